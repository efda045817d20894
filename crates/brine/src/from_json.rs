//! Reading brine's JSON form (docs/json.md) back into a value graph.
