//! Real `--output json` documents checked against `gio-ami schema --report VERB`, with the
//! emulator's Python and its `jsonschema` (Draft 2020-12).

use super::{bare_cli, output, python};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Validates the document (argv[2]) against the schema (argv[1]); prints each error with where
/// it is, and exits 1 if there is any.
const VALIDATE: &str = r#"
import json, sys
from jsonschema import Draft202012Validator
schema, document = (json.load(open(path)) for path in sys.argv[1:3])
Draft202012Validator.check_schema(schema)
errors = sorted(Draft202012Validator(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path)))
for error in errors:
    print("/" + "/".join(map(str, error.absolute_path)), error.message)
sys.exit(1 if errors else 0)
"#;

/// `document` (what `gio-ami VERB --output json` printed) is what `schema --report VERB` says.
pub fn assert_valid(verb: &str, document: &str) {
    if let Err(errors) = validate(verb, document) {
        panic!("`{verb} --output json` does not match `schema --report {verb}`:\n{errors}\n{document}");
    }
}

/// Validates `document` against the report schema of `verb`: Err holds what does not match.
pub fn validate(verb: &str, document: &str) -> Result<(), String> {
    let schema = schema_file(verb);
    let file = scratch_file("report");
    std::fs::write(&file, document).unwrap();
    let checked =
        output(std::process::Command::new(python()).arg("-c").arg(VALIDATE).arg(&schema).arg(&file));
    std::fs::remove_file(&file).unwrap();
    let said =
        format!("{}{}", String::from_utf8_lossy(&checked.stdout), String::from_utf8_lossy(&checked.stderr));
    match checked.status.code() {
        Some(0) => Ok(()),
        Some(1) if !said.contains("Traceback") => Err(said),
        _ => panic!("the validator failed: {said}"),
    }
}

/// `gio-ami schema --report VERB`, written once per test run.
fn schema_file(verb: &str) -> PathBuf {
    static FILES: Mutex<Option<HashMap<String, PathBuf>>> = Mutex::new(None);
    let mut files = FILES.lock().unwrap_or_else(|e| e.into_inner());
    let files = files.get_or_insert_with(HashMap::new);
    if let Some(file) = files.get(verb) {
        return file.clone();
    }
    let printed = output(bare_cli().args(["schema", "--report"]).args(verb.split(' ')));
    assert!(printed.status.success(), "schema --report {verb}: {}", String::from_utf8_lossy(&printed.stderr));
    let file = scratch_file("schema");
    std::fs::write(&file, &printed.stdout).unwrap();
    files.insert(verb.to_string(), file.clone());
    file
}

fn scratch_file(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("{what}-{}-{n}.json", std::process::id()))
}
