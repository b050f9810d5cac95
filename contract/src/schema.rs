//! How a value that does not match a tool's JSON Schema is described, the same in the gateway
//! (`tools/call` arguments) and the sandbox (arguments it is sent): at most the first
//! [`MAX_PROBLEMS`] errors, each with the path of the offending value.

/// Errors reported per value; more only repeat the point and lengthen the message.
pub const MAX_PROBLEMS: usize = 5;

/// The schema errors of `instance`, rendered (`/path: message`); empty when it matches.
pub fn problems(validator: &jsonschema::Validator, instance: &serde_json::Value) -> Vec<String> {
    validator
        .iter_errors(instance)
        .take(MAX_PROBLEMS)
        .map(|e| {
            let at = e.instance_path().to_string();
            if at.is_empty() {
                e.to_string()
            } else {
                format!("{at}: {e}")
            }
        })
        .collect()
}
