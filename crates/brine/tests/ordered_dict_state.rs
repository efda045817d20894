#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]
//! An OrderedDict with attributes (torch's state dicts carry `_metadata`): CPython writes
//! REDUCE, SETITEMS, then BUILD with the instance dict. brine keeps the state on the call the
//! OrderedDict came from and writes it back byte for byte.

use std::process::Command;

#[test]
fn ordered_dict_with_attributes_round_trips_byte_for_byte() {
    let script = r#"
import pickle, collections, sys
od = collections.OrderedDict(a=1, b=[2])
od._metadata = {'': {'version': 1}}
for p in range(6):
    sys.stdout.write(pickle.dumps(od, p).hex() + "\n")
"#;
    let out = Command::new("python3")
        .args(["-c", script])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for (p, line) in text.lines().enumerate() {
        let data: Vec<u8> = (0..line.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
            .collect();
        let g = brine::decode(&data).unwrap();
        assert_eq!(g.root().to_string(), "OrderedDict([('a', 1), ('b', [2])])");
        let origin = g.origin(match g.root_value() {
            brine::Value::Ref(id) => id,
            other => panic!("{other:?}"),
        });
        let Some(brine::Node::Object(call)) = origin.and_then(|o| g.get(o)) else {
            panic!("no call kept for the OrderedDict")
        };
        assert_eq!(call.state.len(), 1);
        assert_eq!(
            g.view(call.state[0]).to_string(),
            "{'_metadata': {'': {'version': 1}}}"
        );
        let opts = brine::EncodeOptions {
            protocol: p as u8,
            ..brine::EncodeOptions::default()
        };
        assert_eq!(brine::encode(&g, &opts).unwrap(), data, "protocol {p}");
    }
}
