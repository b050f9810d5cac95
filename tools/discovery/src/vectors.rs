//! Golden tests: the shared vectors in `vectors/stubs.json` (tool schemas and the Python stub
//! and TypeScript declaration each must render to) against the Rust renderers. The Python
//! renderer of the `execute_code` component checks the same file
//! (`code/python/tests/test_schema_doc.py`), which pins the two Python renderers together.
//!
//! After a deliberate change of the rendering, `BLESS_STUB_VECTORS=1 cargo test -p
//! tool-discovery vectors` rewrites the expectations; review the diff (and make the Python
//! renderer agree).

use mcp_tool_sdk::serde_json::{self, Value};

use crate::{stub, ts};

const PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/vectors/stubs.json");

fn render(vector: &Value) -> (String, String) {
    let text = |key: &str| vector[key].as_str().unwrap_or_default().to_owned();
    let output = Some(&vector["output_schema"]).filter(|s| !s.is_null());
    let args = (
        text("component"),
        text("tool"),
        text("description"),
        &vector["input_schema"],
    );
    (
        stub::render(&args.0, &args.1, &args.2, args.3, output),
        ts::render(&args.0, &args.1, &args.2, args.3, output),
    )
}

#[test]
fn the_renderers_match_the_shared_vectors() {
    let text = std::fs::read_to_string(PATH).unwrap();
    let mut file: Value = serde_json::from_str(&text).unwrap();
    let vectors = file["vectors"].as_array_mut().unwrap();
    assert!(vectors.len() >= 4, "too few vectors");
    if std::env::var_os("BLESS_STUB_VECTORS").is_some() {
        for vector in vectors.iter_mut() {
            let (python, typescript) = render(vector);
            vector["python"] = Value::from(python);
            vector["typescript"] = Value::from(typescript);
        }
        let blessed = serde_json::to_string_pretty(&file).unwrap() + "\n";
        std::fs::write(PATH, blessed).unwrap();
        return;
    }
    for vector in vectors.iter() {
        let (python, typescript) = render(vector);
        let name = &vector["name"];
        assert_eq!(
            python,
            vector["python"].as_str().unwrap(),
            "Python stub of {name}"
        );
        assert_eq!(
            typescript,
            vector["typescript"].as_str().unwrap(),
            "TypeScript declaration of {name}"
        );
    }
}

/// The Python renderer of the `execute_code` component against the same vectors, with the
/// machine's python3 (the component's own code, not a copy).
#[test]
fn the_python_renderer_of_code_mode_matches_the_shared_vectors() {
    let code = concat!(env!("CARGO_MANIFEST_DIR"), "/../../code/python");
    let out = std::process::Command::new("python3")
        .args(["-m", "unittest", "tests.test_schema_doc"])
        .current_dir(code)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "code/python/tests/test_schema_doc.py failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The TypeScript declarations are TypeScript: each vector's declaration, and a program using
/// the first one, type-check with `tsc --strict` (the compiler componentize-js installs with
/// scripts/build-javascript.sh, which scripts/build-tools.sh runs before the tests).
#[test]
fn the_typescript_declarations_type_check() {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
    let tsc =
        std::path::Path::new(root).join(".peers/componentize-js/node_modules/typescript/bin/tsc");
    assert!(
        tsc.exists(),
        "{} is missing: run scripts/build-javascript.sh",
        tsc.display()
    );
    let text = std::fs::read_to_string(PATH).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    let dir = std::env::temp_dir().join(format!("stub-vectors-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut files = Vec::new();
    for (i, vector) in file["vectors"].as_array().unwrap().iter().enumerate() {
        let path = dir.join(format!("v{i}.ts"));
        let mut source = format!("export {{}};\n{}", vector["typescript"].as_str().unwrap());
        if i == 0 {
            // A use that only type-checks if the types are what the schema says.
            source.push_str(
                "async function use(): Promise<number> {\n  \
                 const r = await tools.log_store.search_logs({query: 'x', level: 'ERROR', \
                 \"max-results\": [1]});\n  \
                 const first: string | undefined = r.lines[0];\n  \
                 return r.total + (first ?? '').length;\n}\nvoid use;\n",
            );
        }
        std::fs::write(&path, source).unwrap();
        files.push(path);
    }
    let out = std::process::Command::new("node")
        .arg(&tsc)
        .args([
            "--noEmit", "--strict", "--target", "es2022", "--lib", "es2022",
        ])
        .args(&files)
        .output()
        .expect("node runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        out.status.success(),
        "tsc refused the declarations:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
