//! JSON Schema helpers shared by the reports and the kernel's view.

use serde_json::Value;

/// A schemars transform for a struct whose every field is always in the
/// JSON, `null` for a `None`: it lists every property as required, so a
/// report with a measurement missing fails its schema (by default schemars
/// lets an `Option` field be left out). Use it as
/// `#[schemars(transform = crate::lab::schema::every_field_present)]`.
pub fn every_field_present(schema: &mut schemars::Schema) {
    let names: Vec<Value> = schema
        .get("properties")
        .and_then(Value::as_object)
        .map(|props| props.keys().cloned().map(Value::String).collect())
        .unwrap_or_default();
    schema.insert("required".into(), Value::Array(names));
}
