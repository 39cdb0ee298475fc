//! The bundle parser must never panic: any input is either a compiled bundle or a list of errors,
//! each naming a JSON path; whatever compiles must re-export to JSON that compiles again, and write a
//! compact form that loads back to the same tables.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match policy_core::parse_bundle(text) {
        Ok(bundle) => {
            if let Ok(compiled) = bundle.compile() {
                let again = compiled.bundle().expect("compiled from a document").to_json();
                assert!(policy_core::parse_bundle(&again).is_ok(), "re-export must parse");
                // The compact form of whatever compiles loads back to the same tables.
                let compact = compiled.to_compact();
                let loaded = policy_core::CompiledBundle::from_compact(&compact).expect("a written form loads");
                assert!(loaded.same_compiled(&compiled), "the compact form changed the tables");
            }
        }
        Err(errors) => {
            assert!(!errors.errors().is_empty());
            for e in errors.errors() {
                assert!(e.path().starts_with('$'), "error without a JSON path: {e}");
                let span = e.span().expect("an error of a document has a place in it");
                assert!(span.line >= 1 && span.column >= 1 && (span.end_line, span.end_column) >= (span.line, span.column));
            }
        }
    }
});
