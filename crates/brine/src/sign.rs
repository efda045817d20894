//! Signing and verifying pickles: HMAC-SHA256 with a shared key, or Ed25519 public-key
//! signatures, as a detached signature file or an envelope that holds the pickle.
//!
//! A signature authenticates bytes: it tells you that whoever holds the key signed exactly
//! these bytes. It does not make a malicious pickle safe to load with CPython; brine itself
//! never runs anything, and for pickles that will reach `pickle.loads` the scanner
//! (`brine::scan`, behind the `json` feature) and a restricted loader are still worth
//! running. The formats are specified byte by byte in `docs/sign.md`.
//!
//! - Keys: [`SignKey`] signs, [`VerifyKey`] verifies. Both read and write a one-line text
//!   form (`brine-hmac-sha256:<hex>`, `brine-ed25519-secret:<hex>`,
//!   `brine-ed25519-public:<hex>`); every key has a [`KeyId`].
//! - Envelope: [`sign_envelope`] wraps a pickle; [`verify_envelope`] returns the verified
//!   payload; [`open`] verifies and decodes in one call, and decodes nothing when the
//!   signature does not verify.
//! - Detached: [`sign_detached`] makes a [`DetachedSignature`] (a small text file);
//!   [`verify_detached`] and [`open_detached`] check it against the payload.
//!
//! ```
//! use brine::sign::{open, sign_envelope, Algorithm, SignErrorKind, SignKey};
//! // In real use the seed comes from the operating system's random number generator.
//! let key = SignKey::from_seed(Algorithm::Ed25519, &[7; 32])?;
//! // pickle.dumps([1, 2], protocol=2)
//! let envelope = sign_envelope(b"\x80\x02]q\x00(K\x01K\x02e.", &key)?;
//! let graph = open(&envelope, &key.verify_key())?;
//! assert_eq!(graph.root().to_string(), "[1, 2]");
//!
//! // One changed byte of the payload (K\x02 -> K\x03): nothing is decoded.
//! let mut tampered = envelope.clone();
//! tampered[brine::sign::HEADER_LEN + 9] = 3;
//! let err = open(&tampered, &key.verify_key()).unwrap_err();
//! assert!(matches!(err.kind(), SignErrorKind::BadSignature));
//! # Ok::<(), brine::sign::SignError>(())
//! ```
//!
//! Loading through the scanner's policy (verify, then refuse what the policy does not allow)
//! belongs to the restricted loader; until it lands, call [`verify_envelope`] and hand the
//! payload to `brine::scan::scan_bytes` before decoding.

use std::fmt;

use ed25519_dalek::Signer as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::{Decoder, Graph, Options};

/// The first bytes of every envelope: `FF "BRINESIG" 0A`. 0xFF is no pickle opcode, so
/// `pickle.loads` (and [`crate::decode`]) fail on an envelope at its first byte.
pub const MAGIC: [u8; 10] = *b"\xffBRINESIG\n";
/// The envelope and signature-file version this module writes and reads.
pub const VERSION: u8 = 1;
/// Bytes of the envelope header; the payload starts here.
pub const HEADER_LEN: usize = 32;
/// Fewest bytes of an HMAC-SHA256 secret key.
pub const MIN_HMAC_KEY_LEN: usize = 16;
/// Most bytes of an HMAC-SHA256 secret key.
pub const MAX_HMAC_KEY_LEN: usize = 1024;
/// Longest key text [`SignKey::from_text`] and [`VerifyKey::from_text`] read.
pub const MAX_KEY_TEXT_LEN: usize = 4096;
/// Longest detached signature file [`DetachedSignature::parse`] reads.
pub const MAX_SIGNATURE_TEXT_LEN: usize = 1024;

/// What every signature covers starts with this (domain separation from any other use of
/// the same key).
const STATEMENT_DOMAIN: &[u8; 14] = b"brine-sign/v1\0";
/// Bytes of the signed statement (see [`statement`]).
const STATEMENT_LEN: usize = 64;
/// Key ids are derived under this label.
const KEY_ID_DOMAIN: &[u8] = b"brine-sign/v1 key-id\0";
/// First line of a detached signature file.
const SIGNATURE_FILE_HEADER: &str = "brine-signature v1";

const HMAC_TEXT_PREFIX: &str = "brine-hmac-sha256:";
const ED25519_SECRET_TEXT_PREFIX: &str = "brine-ed25519-secret:";
const ED25519_PUBLIC_TEXT_PREFIX: &str = "brine-ed25519-public:";

// Envelope field offsets (docs/sign.md).
const OFF_VERSION: usize = 10;
const OFF_ALGORITHM: usize = 11;
const OFF_RESERVED: usize = 12;
const OFF_KEY_ID: usize = 16;
const OFF_PAYLOAD_LEN: usize = 24;

/// A signature algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA256 with a shared secret key: whoever can verify can also sign.
    HmacSha256,
    /// Ed25519: the secret key signs, the public key only verifies.
    Ed25519,
}

impl Algorithm {
    /// The name used in signature files and messages: `hmac-sha256` or `ed25519`.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::HmacSha256 => "hmac-sha256",
            Algorithm::Ed25519 => "ed25519",
        }
    }

    /// The algorithm with this [`name`](Algorithm::name).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "hmac-sha256" => Some(Algorithm::HmacSha256),
            "ed25519" => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// The byte that names the algorithm in an envelope and in the signed statement.
    pub fn id(self) -> u8 {
        match self {
            Algorithm::HmacSha256 => 1,
            Algorithm::Ed25519 => 2,
        }
    }

    /// The algorithm with this [`id`](Algorithm::id).
    pub fn from_id(id: u8) -> Option<Self> {
        match id {
            1 => Some(Algorithm::HmacSha256),
            2 => Some(Algorithm::Ed25519),
            _ => None,
        }
    }

    /// Bytes of one signature: 32 for HMAC-SHA256, 64 for Ed25519.
    pub fn signature_len(self) -> usize {
        match self {
            Algorithm::HmacSha256 => 32,
            Algorithm::Ed25519 => 64,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which key made a signature: 8 bytes derived from the key (docs/sign.md), shown as 16
/// hex digits. Not secret, not a security check: it tells a wrong key from a forged
/// signature.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct KeyId([u8; 8]);

impl KeyId {
    /// The id's 8 bytes.
    pub fn as_bytes(&self) -> &[u8; 8] {
        &self.0
    }

    /// An id from its 8 bytes.
    pub fn from_bytes(bytes: [u8; 8]) -> Self {
        KeyId(bytes)
    }

    fn from_digest(d: &[u8]) -> Self {
        let mut id = [0u8; 8];
        for (o, i) in id.iter_mut().zip(d) {
            *o = *i;
        }
        KeyId(id)
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({self})")
    }
}

/// Whether a signature sits in an envelope or in a detached file; part of the signed
/// statement, so one form cannot be replayed as the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    Envelope = 1,
    Detached = 2,
}

/// An HMAC secret, wiped from memory when dropped, and its key id.
#[derive(Clone)]
struct HmacSecret {
    secret: Zeroizing<Vec<u8>>,
    key_id: KeyId,
}

impl HmacSecret {
    fn new(secret: &[u8]) -> Result<Self, SignError> {
        if secret.len() < MIN_HMAC_KEY_LEN || secret.len() > MAX_HMAC_KEY_LEN {
            return Err(bad_key(format!(
                "an hmac-sha256 key must have {MIN_HMAC_KEY_LEN} to {MAX_HMAC_KEY_LEN} bytes, found {}",
                secret.len()
            )));
        }
        let secret = Zeroizing::new(secret.to_vec());
        let mut mac = hmac_with(&secret)?;
        mac.update(KEY_ID_DOMAIN);
        mac.update(&[Algorithm::HmacSha256.id()]);
        let key_id = KeyId::from_digest(&mac.finalize().into_bytes());
        Ok(HmacSecret { secret, key_id })
    }

    fn mac(&self) -> Result<Hmac<Sha256>, SignError> {
        hmac_with(&self.secret)
    }

    fn to_text(&self) -> String {
        format!("{HMAC_TEXT_PREFIX}{}", hex(&self.secret))
    }
}

fn hmac_with(secret: &[u8]) -> Result<Hmac<Sha256>, SignError> {
    // HMAC takes keys of any length; the error arm is only there for the trait's sake.
    Hmac::<Sha256>::new_from_slice(secret).map_err(|_| bad_key("hmac-sha256 rejected the key"))
}

fn ed25519_key_id(public: &ed25519_dalek::VerifyingKey) -> KeyId {
    let mut h = Sha256::new();
    h.update(KEY_ID_DOMAIN);
    h.update([Algorithm::Ed25519.id()]);
    h.update(public.as_bytes());
    KeyId::from_digest(&h.finalize())
}

#[derive(Clone)]
enum SignInner {
    Hmac(HmacSecret),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A key that signs: an HMAC-SHA256 secret or an Ed25519 secret key. Its `Debug` shows the
/// algorithm and key id, never the secret.
#[derive(Clone)]
pub struct SignKey(SignInner);

impl SignKey {
    /// An HMAC-SHA256 key from its secret bytes ([`MIN_HMAC_KEY_LEN`] to
    /// [`MAX_HMAC_KEY_LEN`] of them).
    pub fn hmac_sha256(secret: &[u8]) -> Result<Self, SignError> {
        Ok(SignKey(SignInner::Hmac(HmacSecret::new(secret)?)))
    }

    /// An Ed25519 secret key from its 32-byte seed (the secret key of RFC 8032).
    pub fn ed25519_from_seed(seed: &[u8; 32]) -> Self {
        SignKey(SignInner::Ed25519(ed25519_dalek::SigningKey::from_bytes(
            seed,
        )))
    }

    /// A new key of either algorithm from 32 random bytes the caller provides (brine has
    /// no random number generator of its own): the HMAC secret or the Ed25519 seed.
    pub fn from_seed(algorithm: Algorithm, seed: &[u8; 32]) -> Result<Self, SignError> {
        match algorithm {
            Algorithm::HmacSha256 => Self::hmac_sha256(seed),
            Algorithm::Ed25519 => Ok(Self::ed25519_from_seed(seed)),
        }
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            SignInner::Hmac(_) => Algorithm::HmacSha256,
            SignInner::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The key's id, as written in its signatures.
    pub fn key_id(&self) -> KeyId {
        match &self.0 {
            SignInner::Hmac(s) => s.key_id,
            SignInner::Ed25519(k) => ed25519_key_id(&k.verifying_key()),
        }
    }

    /// The key that verifies this key's signatures: the Ed25519 public key, or for HMAC the
    /// same secret.
    pub fn verify_key(&self) -> VerifyKey {
        match &self.0 {
            SignInner::Hmac(s) => VerifyKey(VerifyInner::Hmac(s.clone())),
            SignInner::Ed25519(k) => VerifyKey(VerifyInner::Ed25519(k.verifying_key())),
        }
    }

    /// Reads a secret key in its text form (`brine-hmac-sha256:<hex>` or
    /// `brine-ed25519-secret:<hex>`); whitespace around it is ignored.
    ///
    /// ```
    /// let key = brine::sign::SignKey::from_text(
    ///     "brine-ed25519-secret:0707070707070707070707070707070707070707070707070707070707070707\n",
    /// )?;
    /// assert_eq!(key.algorithm(), brine::sign::Algorithm::Ed25519);
    /// # Ok::<(), brine::sign::SignError>(())
    /// ```
    pub fn from_text(text: &str) -> Result<Self, SignError> {
        match parse_key_text(text)? {
            ParsedKey::Sign(k) => Ok(k),
            ParsedKey::Verify(_) => Err(SignError::new(
                SignErrorKind::BadKey(
                    "this is an ed25519 public key; signing needs the secret key".into(),
                ),
                None,
            )),
        }
    }

    /// The key's text form, one line without a newline. It holds the secret: write it only
    /// to a file nobody else can read.
    pub fn to_text(&self) -> String {
        match &self.0 {
            SignInner::Hmac(s) => s.to_text(),
            SignInner::Ed25519(k) => {
                format!("{ED25519_SECRET_TEXT_PREFIX}{}", hex(k.as_bytes()))
            }
        }
    }

    fn sign_statement(&self, stmt: &[u8; STATEMENT_LEN]) -> Result<Vec<u8>, SignError> {
        match &self.0 {
            SignInner::Hmac(s) => {
                let mut mac = s.mac()?;
                mac.update(stmt);
                Ok(mac.finalize().into_bytes().to_vec())
            }
            SignInner::Ed25519(k) => Ok(k.sign(stmt).to_bytes().to_vec()),
        }
    }
}

impl fmt::Debug for SignKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

#[derive(Clone)]
enum VerifyInner {
    Hmac(HmacSecret),
    Ed25519(ed25519_dalek::VerifyingKey),
}

/// A key that verifies: an HMAC-SHA256 secret or an Ed25519 public key. Its `Debug` shows
/// the algorithm and key id, never a secret.
#[derive(Clone)]
pub struct VerifyKey(VerifyInner);

impl VerifyKey {
    /// An HMAC-SHA256 key from its secret bytes (the same secret that signed).
    pub fn hmac_sha256(secret: &[u8]) -> Result<Self, SignError> {
        Ok(VerifyKey(VerifyInner::Hmac(HmacSecret::new(secret)?)))
    }

    /// An Ed25519 public key from its 32 bytes; fails when they are not a point of the curve.
    pub fn ed25519(public: &[u8; 32]) -> Result<Self, SignError> {
        ed25519_dalek::VerifyingKey::from_bytes(public)
            .map(|k| VerifyKey(VerifyInner::Ed25519(k)))
            .map_err(|_| {
                SignError::new(
                    SignErrorKind::BadKey("not a valid ed25519 public key".into()),
                    None,
                )
            })
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Algorithm {
        match &self.0 {
            VerifyInner::Hmac(_) => Algorithm::HmacSha256,
            VerifyInner::Ed25519(_) => Algorithm::Ed25519,
        }
    }

    /// The key's id, as written in the signatures it verifies.
    pub fn key_id(&self) -> KeyId {
        match &self.0 {
            VerifyInner::Hmac(s) => s.key_id,
            VerifyInner::Ed25519(k) => ed25519_key_id(k),
        }
    }

    /// Reads a key in its text form: `brine-ed25519-public:<hex>`,
    /// `brine-hmac-sha256:<hex>`, or an Ed25519 secret key (`brine-ed25519-secret:<hex>`,
    /// whose public half is used). Whitespace around it is ignored.
    pub fn from_text(text: &str) -> Result<Self, SignError> {
        Ok(match parse_key_text(text)? {
            ParsedKey::Sign(k) => k.verify_key(),
            ParsedKey::Verify(k) => k,
        })
    }

    /// The key's text form, one line without a newline: `brine-ed25519-public:<hex>`, or
    /// for HMAC the secret (`brine-hmac-sha256:<hex>`).
    pub fn to_text(&self) -> String {
        match &self.0 {
            VerifyInner::Hmac(s) => s.to_text(),
            VerifyInner::Ed25519(k) => {
                format!("{ED25519_PUBLIC_TEXT_PREFIX}{}", hex(k.as_bytes()))
            }
        }
    }

    /// Checks a signature over the statement, in constant time (HMAC's `verify_slice`,
    /// Ed25519's `verify_strict`).
    fn verify_statement(
        &self,
        stmt: &[u8; STATEMENT_LEN],
        sig: &[u8],
        offset: Option<u64>,
    ) -> Result<(), SignError> {
        let ok = match &self.0 {
            VerifyInner::Hmac(s) => {
                let mut mac = s.mac()?;
                mac.update(stmt);
                mac.verify_slice(sig).is_ok()
            }
            VerifyInner::Ed25519(k) => match <[u8; 64]>::try_from(sig) {
                Ok(bytes) => {
                    let sig = ed25519_dalek::Signature::from_bytes(&bytes);
                    k.verify_strict(stmt, &sig).is_ok()
                }
                Err(_) => false,
            },
        };
        if ok {
            Ok(())
        } else {
            Err(SignError::new(SignErrorKind::BadSignature, offset))
        }
    }

    /// The checks every verification starts with: the signature's algorithm and key id are
    /// this key's.
    fn check_signer(
        &self,
        algorithm: Algorithm,
        key_id: KeyId,
        offsets: (Option<u64>, Option<u64>),
    ) -> Result<(), SignError> {
        if algorithm != self.algorithm() {
            return Err(SignError::new(
                SignErrorKind::WrongAlgorithm {
                    key: self.algorithm(),
                    signature: algorithm,
                },
                offsets.0,
            ));
        }
        let mine = self.key_id();
        if key_id != mine {
            return Err(SignError::new(
                SignErrorKind::WrongKey {
                    key: mine,
                    signature: key_id,
                },
                offsets.1,
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyKey")
            .field("algorithm", &self.algorithm())
            .field("key_id", &self.key_id())
            .finish_non_exhaustive()
    }
}

enum ParsedKey {
    Sign(SignKey),
    Verify(VerifyKey),
}

fn bad_key(msg: impl Into<String>) -> SignError {
    SignError::new(SignErrorKind::BadKey(msg.into()), None)
}

fn parse_key_text(text: &str) -> Result<ParsedKey, SignError> {
    if text.len() > MAX_KEY_TEXT_LEN {
        return Err(bad_key(format!(
            "key text of {} bytes is longer than {MAX_KEY_TEXT_LEN}",
            text.len()
        )));
    }
    let text = text.trim();
    let (prefix, digits) = match text.find(':') {
        Some(i) => (
            text.get(..=i).unwrap_or(""),
            text.get(i + 1..).unwrap_or(""),
        ),
        None => ("", text),
    };
    match prefix {
        HMAC_TEXT_PREFIX => {
            let secret = Zeroizing::new(
                unhex(digits).ok_or_else(|| bad_key("the hmac-sha256 key is not hex digits"))?,
            );
            Ok(ParsedKey::Sign(SignKey::hmac_sha256(&secret)?))
        }
        ED25519_SECRET_TEXT_PREFIX => {
            let seed = Zeroizing::new(unhex_array::<32>(digits).ok_or_else(|| {
                bad_key("an ed25519 secret key must be 64 hex digits (32 bytes)")
            })?);
            Ok(ParsedKey::Sign(SignKey::ed25519_from_seed(&seed)))
        }
        ED25519_PUBLIC_TEXT_PREFIX => {
            let public = unhex_array::<32>(digits).ok_or_else(|| {
                bad_key("an ed25519 public key must be 64 hex digits (32 bytes)")
            })?;
            Ok(ParsedKey::Verify(VerifyKey::ed25519(&public)?))
        }
        _ => Err(bad_key(format!(
            "not a brine key: expected {HMAC_TEXT_PREFIX}, {ED25519_SECRET_TEXT_PREFIX} or {ED25519_PUBLIC_TEXT_PREFIX} followed by hex digits"
        ))),
    }
}

/// The 64 bytes every signature covers (docs/sign.md): the domain, the algorithm, the form,
/// the key id, the payload's length and its SHA-256.
fn statement(
    algorithm: Algorithm,
    form: Form,
    key_id: KeyId,
    payload_len: u64,
    payload_sha256: &[u8; 32],
) -> [u8; STATEMENT_LEN] {
    let mut s = [0u8; STATEMENT_LEN];
    let parts: [&[u8]; 6] = [
        STATEMENT_DOMAIN,
        &[algorithm.id()],
        &[form as u8],
        key_id.as_bytes(),
        &payload_len.to_le_bytes(),
        payload_sha256,
    ];
    let mut at = 0;
    for p in parts {
        for b in p {
            if let Some(slot) = s.get_mut(at) {
                *slot = *b;
            }
            at += 1;
        }
    }
    s
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

fn payload_statement(algorithm: Algorithm, form: Form, key_id: KeyId, payload: &[u8]) -> [u8; 64] {
    statement(
        algorithm,
        form,
        key_id,
        payload.len() as u64,
        &sha256(payload),
    )
}

// --- the envelope ------------------------------------------------------------------------

/// Wraps a pickle in a signed envelope: a 32-byte header, the pickle bytes as they are, and
/// the signature (docs/sign.md).
pub fn sign_envelope(payload: &[u8], key: &SignKey) -> Result<Vec<u8>, SignError> {
    let algorithm = key.algorithm();
    let key_id = key.key_id();
    let stmt = payload_statement(algorithm, Form::Envelope, key_id, payload);
    let sig = key.sign_statement(&stmt)?;
    let mut out = Vec::with_capacity(HEADER_LEN + payload.len() + sig.len());
    out.extend_from_slice(&MAGIC);
    out.push(VERSION);
    out.push(algorithm.id());
    out.extend_from_slice(&[0; OFF_KEY_ID - OFF_RESERVED]);
    out.extend_from_slice(key_id.as_bytes());
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&sig);
    Ok(out)
}

/// What an envelope's header says, before any verification.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnvelopeHeader {
    /// The algorithm it claims.
    pub algorithm: Algorithm,
    /// The key id it claims.
    pub key_id: KeyId,
    /// Bytes of the payload.
    pub payload_len: u64,
}

/// Whether `data` starts like an envelope (its first bytes are [`MAGIC`]).
pub fn is_envelope(data: &[u8]) -> bool {
    data.starts_with(&MAGIC)
}

fn malformed(msg: impl Into<String>, offset: usize) -> SignError {
    SignError::new(SignErrorKind::Malformed(msg.into()), Some(offset as u64))
}

/// A parsed envelope; the payload is not verified yet and stays private to this module.
struct RawEnvelope<'a> {
    header: EnvelopeHeader,
    payload: &'a [u8],
    signature: &'a [u8],
}

/// `N` bytes of the header from `at` (the offsets are constants inside the header).
fn header_bytes<const N: usize>(header: &[u8; HEADER_LEN], at: usize) -> [u8; N] {
    std::array::from_fn(|i| header.get(at + i).copied().unwrap_or(0))
}

fn parse_envelope(data: &[u8]) -> Result<RawEnvelope<'_>, SignError> {
    let truncated = || {
        malformed(
            format!(
                "truncated envelope: {} of {HEADER_LEN} header bytes",
                data.len()
            ),
            data.len(),
        )
    };
    if let Some(at) = MAGIC.iter().zip(data).position(|(m, d)| m != d) {
        return Err(malformed(
            "not a brine envelope (it does not start with FF \"BRINESIG\" 0A)",
            at,
        ));
    }
    let header: &[u8; HEADER_LEN] = data
        .get(..HEADER_LEN)
        .and_then(|h| h.try_into().ok())
        .ok_or_else(truncated)?;
    let [version] = header_bytes::<1>(header, OFF_VERSION);
    if version != VERSION {
        return Err(SignError::new(
            SignErrorKind::UnsupportedVersion(version),
            Some(OFF_VERSION as u64),
        ));
    }
    let [alg] = header_bytes::<1>(header, OFF_ALGORITHM);
    let algorithm = Algorithm::from_id(alg).ok_or_else(|| {
        SignError::new(
            SignErrorKind::UnknownAlgorithm(alg.to_string()),
            Some(OFF_ALGORITHM as u64),
        )
    })?;
    if header_bytes::<4>(header, OFF_RESERVED) != [0; 4] {
        return Err(malformed(
            "reserved header bytes are not zero",
            OFF_RESERVED,
        ));
    }
    let key_id = KeyId(header_bytes(header, OFF_KEY_ID));
    let payload_len = u64::from_le_bytes(header_bytes(header, OFF_PAYLOAD_LEN));
    let sig_len = algorithm.signature_len();
    // The header fixes where the payload and the signature are; the file must end right
    // after the signature.
    let available = data.len().saturating_sub(HEADER_LEN + sig_len) as u64;
    if data.len() < HEADER_LEN + sig_len || payload_len > available {
        return Err(malformed(
            format!(
                "truncated envelope: the header says {payload_len} payload bytes and a {sig_len}-byte {algorithm} signature, the envelope has {} bytes after the header",
                data.len() - HEADER_LEN
            ),
            OFF_PAYLOAD_LEN,
        ));
    }
    if payload_len < available {
        let end = HEADER_LEN + payload_len as usize + sig_len;
        return Err(malformed(
            format!(
                "{} bytes after the signature (the header says {payload_len} payload bytes)",
                data.len() - end
            ),
            end,
        ));
    }
    let sig_at = HEADER_LEN + payload_len as usize;
    let (payload, signature) = match (data.get(HEADER_LEN..sig_at), data.get(sig_at..)) {
        (Some(p), Some(s)) => (p, s),
        _ => return Err(malformed("envelope lengths do not add up", OFF_PAYLOAD_LEN)),
    };
    Ok(RawEnvelope {
        header: EnvelopeHeader {
            algorithm,
            key_id,
            payload_len,
        },
        payload,
        signature,
    })
}

/// Reads an envelope's header and checks that its lengths match the data, without
/// verifying anything: for saying which key an envelope claims.
pub fn inspect_envelope(envelope: &[u8]) -> Result<EnvelopeHeader, SignError> {
    parse_envelope(envelope).map(|e| e.header)
}

/// Verifies an envelope and returns its payload (borrowed from `envelope`). Checks, in
/// order: the header's structure, the algorithm and key id against `key`, then the
/// signature (in constant time).
pub fn verify_envelope<'a>(envelope: &'a [u8], key: &VerifyKey) -> Result<&'a [u8], SignError> {
    let env = parse_envelope(envelope)?;
    let h = env.header;
    key.check_signer(
        h.algorithm,
        h.key_id,
        (Some(OFF_ALGORITHM as u64), Some(OFF_KEY_ID as u64)),
    )?;
    let stmt = statement(
        h.algorithm,
        Form::Envelope,
        h.key_id,
        h.payload_len,
        &sha256(env.payload),
    );
    key.verify_statement(
        &stmt,
        env.signature,
        Some((HEADER_LEN + env.payload.len()) as u64),
    )?;
    Ok(env.payload)
}

/// Verifies an envelope, then decodes its pickle with default [`Options`]; nothing is
/// decoded unless the signature verifies. The graph borrows from `envelope`. Byte offsets
/// in a decoding error count from the payload's first byte (byte [`HEADER_LEN`] of the
/// envelope).
pub fn open<'a>(envelope: &'a [u8], key: &VerifyKey) -> Result<Graph<'a>, SignError> {
    open_with(envelope, key, Options::default())
}

/// [`open`] with decoding options.
pub fn open_with<'a>(
    envelope: &'a [u8],
    key: &VerifyKey,
    opts: Options<'a>,
) -> Result<Graph<'a>, SignError> {
    let payload = verify_envelope(envelope, key)?;
    decode_verified(payload, opts)
}

fn decode_verified<'a>(payload: &'a [u8], opts: Options<'a>) -> Result<Graph<'a>, SignError> {
    Decoder::new(opts)
        .decode_slice(payload)
        .map_err(|e| SignError::new(SignErrorKind::Decode(e), None))
}

// --- detached signatures -----------------------------------------------------------------

/// A detached signature: the text file that sits beside a pickle (docs/sign.md).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetachedSignature {
    algorithm: Algorithm,
    key_id: KeyId,
    payload_len: u64,
    payload_sha256: [u8; 32],
    signature: Vec<u8>,
}

impl DetachedSignature {
    /// The algorithm it claims.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The key id it claims.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }

    /// Bytes of the signed payload.
    pub fn payload_len(&self) -> u64 {
        self.payload_len
    }

    /// SHA-256 of the signed payload.
    pub fn payload_sha256(&self) -> &[u8; 32] {
        &self.payload_sha256
    }

    /// The file's text: six lines, each ending in a newline.
    ///
    /// ```
    /// use brine::sign::{sign_detached, Algorithm, DetachedSignature, SignKey};
    /// let key = SignKey::from_seed(Algorithm::HmacSha256, &[1; 32])?;
    /// let sig = sign_detached(b"N.", &key)?;
    /// let text = sig.to_text();
    /// assert!(text.starts_with("brine-signature v1\nalgorithm: hmac-sha256\n"));
    /// assert_eq!(DetachedSignature::parse(text.as_bytes())?, sig);
    /// # Ok::<(), brine::sign::SignError>(())
    /// ```
    pub fn to_text(&self) -> String {
        format!(
            "{SIGNATURE_FILE_HEADER}\nalgorithm: {}\nkey-id: {}\npayload-length: {}\npayload-sha256: {}\nsignature: {}\n",
            self.algorithm,
            self.key_id,
            self.payload_len,
            hex(&self.payload_sha256),
            hex(&self.signature)
        )
    }

    /// Reads a signature file. Strict: the six lines in their order, each `name: value`
    /// (a final newline and `\r\n` line ends are accepted). Errors give the byte offset of
    /// the line at fault.
    pub fn parse(text: &[u8]) -> Result<Self, SignError> {
        if text.len() > MAX_SIGNATURE_TEXT_LEN {
            return Err(malformed(
                format!(
                    "signature file of {} bytes is longer than {MAX_SIGNATURE_TEXT_LEN}",
                    text.len()
                ),
                MAX_SIGNATURE_TEXT_LEN,
            ));
        }
        let mut lines = Lines { text, at: 0 };
        let (at, first) = lines.next_line()?;
        if first != SIGNATURE_FILE_HEADER.as_bytes() {
            return Err(malformed(
                format!("not a brine signature file: expected {SIGNATURE_FILE_HEADER:?} on the first line"),
                at,
            ));
        }
        let (at, v) = lines.field("algorithm")?;
        let algorithm = std::str::from_utf8(v)
            .ok()
            .and_then(Algorithm::from_name)
            .ok_or_else(|| {
                SignError::new(
                    SignErrorKind::UnknownAlgorithm(String::from_utf8_lossy(v).into_owned()),
                    Some(at as u64),
                )
            })?;
        let (at, v) = lines.field("key-id")?;
        let key_id = KeyId(
            unhex_bytes::<8>(v).ok_or_else(|| malformed("key-id must be 16 hex digits", at))?,
        );
        let (at, v) = lines.field("payload-length")?;
        let payload_len = std::str::from_utf8(v)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_digit()) && (s == &"0" || !s.starts_with('0')))
            .and_then(|s| s.parse::<u64>().ok())
            .ok_or_else(|| malformed("payload-length must be a decimal number", at))?;
        let (at, v) = lines.field("payload-sha256")?;
        let payload_sha256 = unhex_bytes::<32>(v)
            .ok_or_else(|| malformed("payload-sha256 must be 64 hex digits", at))?;
        let (at, v) = lines.field("signature")?;
        let n = algorithm.signature_len();
        let signature = unhex_bytes_vec(v).filter(|s| s.len() == n).ok_or_else(|| {
            malformed(
                format!("a {algorithm} signature must be {} hex digits", 2 * n),
                at,
            )
        })?;
        if lines.at < text.len() {
            return Err(malformed(
                "unexpected text after the signature line",
                lines.at,
            ));
        }
        Ok(DetachedSignature {
            algorithm,
            key_id,
            payload_len,
            payload_sha256,
            signature,
        })
    }
}

/// Line reader for signature files, keeping byte offsets.
struct Lines<'a> {
    text: &'a [u8],
    at: usize,
}

impl<'a> Lines<'a> {
    fn next_line(&mut self) -> Result<(usize, &'a [u8]), SignError> {
        let start = self.at;
        let rest = self.text.get(start..).unwrap_or(&[]);
        if rest.is_empty() {
            return Err(malformed("truncated signature file", start));
        }
        let (line, used) = match memchr::memchr(b'\n', rest) {
            Some(i) => (rest.get(..i).unwrap_or(&[]), i + 1),
            None => (rest, rest.len()),
        };
        self.at = start + used;
        Ok((start, line.strip_suffix(b"\r").unwrap_or(line)))
    }

    fn field(&mut self, name: &str) -> Result<(usize, &'a [u8]), SignError> {
        let (at, line) = self.next_line()?;
        let value = line
            .strip_prefix(name.as_bytes())
            .and_then(|l| l.strip_prefix(b": "))
            .ok_or_else(|| malformed(format!("expected the line \"{name}: ...\""), at))?;
        Ok((at, value))
    }
}

/// Signs a pickle's bytes, for a signature file kept beside it.
pub fn sign_detached(payload: &[u8], key: &SignKey) -> Result<DetachedSignature, SignError> {
    let algorithm = key.algorithm();
    let key_id = key.key_id();
    let digest = sha256(payload);
    let payload_len = payload.len() as u64;
    let stmt = statement(algorithm, Form::Detached, key_id, payload_len, &digest);
    Ok(DetachedSignature {
        algorithm,
        key_id,
        payload_len,
        payload_sha256: digest,
        signature: key.sign_statement(&stmt)?,
    })
}

/// Verifies a detached signature over `payload`. Checks, in order: the algorithm and key
/// id against `key`, that the payload is the one signed (length and SHA-256), then the
/// signature (in constant time) over the statement made from `payload` itself.
pub fn verify_detached(
    payload: &[u8],
    sig: &DetachedSignature,
    key: &VerifyKey,
) -> Result<(), SignError> {
    key.check_signer(sig.algorithm, sig.key_id, (None, None))?;
    let digest = sha256(payload);
    let len = payload.len() as u64;
    if len != sig.payload_len {
        return Err(SignError::new(
            SignErrorKind::PayloadMismatch(format!(
                "the file has {len} bytes, the signed one had {}",
                sig.payload_len
            )),
            None,
        ));
    }
    if digest != sig.payload_sha256 {
        return Err(SignError::new(
            SignErrorKind::PayloadMismatch(
                "the file's sha-256 differs from the signed one's".into(),
            ),
            None,
        ));
    }
    let stmt = statement(sig.algorithm, Form::Detached, sig.key_id, len, &digest);
    key.verify_statement(&stmt, &sig.signature, None)
}

/// Verifies a detached signature, then decodes `payload` with default [`Options`]; nothing
/// is decoded unless the signature verifies.
pub fn open_detached<'a>(
    payload: &'a [u8],
    sig: &DetachedSignature,
    key: &VerifyKey,
) -> Result<Graph<'a>, SignError> {
    open_detached_with(payload, sig, key, Options::default())
}

/// [`open_detached`] with decoding options.
pub fn open_detached_with<'a>(
    payload: &'a [u8],
    sig: &DetachedSignature,
    key: &VerifyKey,
    opts: Options<'a>,
) -> Result<Graph<'a>, SignError> {
    verify_detached(payload, sig, key)?;
    decode_verified(payload, opts)
}

// --- errors ------------------------------------------------------------------------------

/// A signing, verification or key error. One pointer wide; carries a [`SignErrorKind`] and,
/// for envelopes and signature files, the byte offset of the field at fault.
pub struct SignError(Box<SignErrorImpl>);

struct SignErrorImpl {
    kind: SignErrorKind,
    offset: Option<u64>,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum SignErrorKind {
    /// The signature does not match: the data or the signature was changed, or it was
    /// forged.
    BadSignature,
    /// The signature names another key.
    WrongKey {
        /// The id of the key verifying.
        key: KeyId,
        /// The id the signature names.
        signature: KeyId,
    },
    /// The signature was made with another algorithm than the key's.
    WrongAlgorithm {
        /// The key's algorithm.
        key: Algorithm,
        /// The signature's algorithm.
        signature: Algorithm,
    },
    /// A detached signature is for other bytes (another length or SHA-256).
    PayloadMismatch(String),
    /// An envelope or signature file is not well formed (truncated, trailing bytes, bad
    /// magic, a field out of range).
    Malformed(String),
    /// An envelope of a version this library does not read.
    UnsupportedVersion(u8),
    /// An algorithm this library does not know (its id or name).
    UnknownAlgorithm(String),
    /// A key could not be read or used (wrong text form, wrong length, a public key where
    /// a secret one is needed).
    BadKey(String),
    /// The signature verified but the payload did not decode.
    Decode(crate::Error),
}

/// Broad classes of [`SignError`]s, for callers that only need to branch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignCategory {
    /// The signature does not verify with this key (bad, wrong key or algorithm, other
    /// payload).
    Invalid,
    /// The envelope or signature file is not well formed.
    Malformed,
    /// The key is unusable.
    Key,
    /// Verified, but the pickle did not decode.
    Decode,
}

impl SignError {
    fn new(kind: SignErrorKind, offset: Option<u64>) -> Self {
        SignError(Box::new(SignErrorImpl { kind, offset }))
    }

    /// What went wrong.
    pub fn kind(&self) -> &SignErrorKind {
        &self.0.kind
    }

    /// Byte offset of the field at fault in the envelope or signature file, when there is
    /// one.
    pub fn offset(&self) -> Option<u64> {
        self.0.offset
    }

    /// The broad class of the error.
    pub fn classify(&self) -> SignCategory {
        match self.0.kind {
            SignErrorKind::BadSignature
            | SignErrorKind::WrongKey { .. }
            | SignErrorKind::WrongAlgorithm { .. }
            | SignErrorKind::PayloadMismatch(_) => SignCategory::Invalid,
            SignErrorKind::Malformed(_)
            | SignErrorKind::UnsupportedVersion(_)
            | SignErrorKind::UnknownAlgorithm(_) => SignCategory::Malformed,
            SignErrorKind::BadKey(_) => SignCategory::Key,
            SignErrorKind::Decode(_) => SignCategory::Decode,
        }
    }
}

impl fmt::Display for SignErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SignErrorKind::BadSignature => f.write_str(
                "bad signature: the data or the signature was changed since it was signed",
            ),
            SignErrorKind::WrongKey { key, signature } => {
                write!(f, "signed by key {signature}, not by this key ({key})")
            }
            SignErrorKind::WrongAlgorithm { key, signature } => {
                write!(f, "signed with {signature}, but the key is an {key} key")
            }
            SignErrorKind::PayloadMismatch(m) => write!(f, "not the signed payload: {m}"),
            SignErrorKind::Malformed(m) => f.write_str(m),
            SignErrorKind::UnsupportedVersion(v) => {
                write!(
                    f,
                    "envelope version {v} is not supported (expected {VERSION})"
                )
            }
            SignErrorKind::UnknownAlgorithm(a) => write!(f, "unknown signature algorithm {a}"),
            SignErrorKind::BadKey(m) => write!(f, "bad key: {m}"),
            SignErrorKind::Decode(e) => write!(f, "signature valid, but decoding failed: {e}"),
        }
    }
}

impl fmt::Display for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0.kind)?;
        match self.0.offset {
            Some(o) => write!(f, ", at byte {o}"),
            None => Ok(()),
        }
    }
}

impl fmt::Debug for SignError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignError")
            .field("kind", &self.0.kind)
            .field("offset", &self.0.offset)
            .finish()
    }
}

impl std::error::Error for SignError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.0.kind {
            SignErrorKind::Decode(e) => Some(e),
            _ => None,
        }
    }
}

// --- hex ---------------------------------------------------------------------------------

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        for d in [b >> 4, b & 15] {
            s.push(char::from(
                DIGITS.get(usize::from(d)).copied().unwrap_or(b'0'),
            ));
        }
    }
    s
}

fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Hex digits (either case, even count) to bytes.
fn unhex_bytes_vec(s: &[u8]) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| match p {
            [h, l] => Some(hex_digit(*h)? << 4 | hex_digit(*l)?),
            _ => None,
        })
        .collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    unhex_bytes_vec(s.as_bytes())
}

fn unhex_bytes<const N: usize>(s: &[u8]) -> Option<[u8; N]> {
    let v = Zeroizing::new(unhex_bytes_vec(s)?);
    <[u8; N]>::try_from(v.as_slice()).ok()
}

fn unhex_array<const N: usize>(s: &str) -> Option<[u8; N]> {
    unhex_bytes(s.as_bytes())
}
