//! ARCHITECTURE.md is a code map: every crate has a section, and every top-level
//! module of a crate (a file or folder directly under its `src/`) is named in it.
//! A new crate or module without a line in the map fails here.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// The map's sections: heading (the crate in backticks) → text up to the next heading.
fn sections(map: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in map.lines() {
        if let Some(head) = line.strip_prefix("### ") {
            let name = head.split('`').nth(1).unwrap_or(head).to_owned();
            out.push((name, String::new()));
        } else if line.starts_with("## ") {
            out.push((String::new(), String::new()));
        } else if let Some((_, text)) = out.last_mut() {
            text.push_str(line);
            text.push('\n');
        }
    }
    out
}

/// Names of the top-level modules of a crate: `src/x.rs` → `x`, `src/x/` → `x/`.
fn modules(src: &Path) -> Vec<String> {
    let mut names = Vec::new();
    let Ok(entries) = std::fs::read_dir(src) else {
        return names;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() {
            names.push(format!("{name}/"));
        } else if let Some(stem) = name.strip_suffix(".rs")
            && stem != "lib"
            && stem != "main"
        {
            names.push(stem.to_owned());
        }
    }
    names.sort();
    names
}

fn missing_from_map(map: &str, crates: &[(String, PathBuf)]) -> Vec<String> {
    let sections = sections(map);
    let mut missing = Vec::new();
    for (krate, src) in crates {
        let Some((_, text)) = sections.iter().find(|(name, _)| name == krate) else {
            missing.push(format!("crate {krate} has no section `### `{krate}``"));
            continue;
        };
        for m in modules(src) {
            // `x` or `x/…` in backticks, or a CLI folder named with its path.
            let named = text.contains(&format!("`{m}`"))
                || text.contains(&format!("`{m}")) && m.ends_with('/')
                || text.contains(&format!("`{m}.rs`"));
            if !named {
                missing.push(format!("module {m} of crate {krate}"));
            }
        }
    }
    missing
}

fn workspace_crates(root: &Path) -> Vec<(String, PathBuf)> {
    let mut crates = vec![("src-tauri".to_owned(), root.join("src-tauri/src"))];
    if let Ok(entries) = std::fs::read_dir(root.join("src-tauri/crates")) {
        for e in entries.flatten() {
            if e.path().join("Cargo.toml").exists() {
                let name = e.file_name().to_string_lossy().into_owned();
                crates.push((name, e.path().join("src")));
            }
        }
    }
    crates.sort();
    crates
}

#[test]
fn every_crate_and_top_level_module_is_in_the_code_map() {
    let root = root();
    let map = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap_or_default();
    assert!(!map.is_empty(), "ARCHITECTURE.md fehlt");
    let crates = workspace_crates(&root);
    assert!(crates.len() >= 10, "crates not found: {crates:?}");
    let missing = missing_from_map(&map, &crates);
    assert!(
        missing.is_empty(),
        "ARCHITECTURE.md: im Code-Plan fehlen {missing:#?}"
    );
}

#[test]
fn the_check_notices_a_missing_module_and_crate() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("bin")).unwrap();
    for f in ["lib.rs", "alpha.rs", "beta.rs"] {
        std::fs::write(src.join(f), "").unwrap();
    }
    let crates = vec![("demo".to_owned(), src.clone())];
    let map = "## Code map\n### `demo` — x\n`alpha` does a, `bin/` holds b, `beta` c.\n## Other\n";
    assert!(missing_from_map(map, &crates).is_empty());
    let map = "### `demo` — x\n`alpha` does a, `bin/` b.\n## Glossary\n`beta`\n";
    assert_eq!(
        missing_from_map(map, &crates),
        ["module beta of crate demo"]
    );
    let other = vec![("gamma".to_owned(), src)];
    assert_eq!(missing_from_map(map, &other).len(), 1);
}

#[test]
fn the_map_stays_short() {
    let map = std::fs::read_to_string(root().join("ARCHITECTURE.md")).unwrap_or_default();
    assert!(
        map.len() <= 16 * 1024,
        "ARCHITECTURE.md ist {} Bytes lang; der Code-Plan soll bei etwa 15 KB bleiben",
        map.len()
    );
}
