//! Walk every session under a data root and list what each one holds.
//!
//! ```text
//! cargo run --release --example walk_sessions -- ROOT
//! cargo run --release --example walk_sessions       # writes two small demo sessions first
//! ```
//!
//! `ROOT` holds sessions in vrAnalysis's layout,
//! `ROOT/<mouse>/<YYYY-MM-DD>/<session_id>/oneData/`. Each file is
//! described from its header alone: nothing is loaded.

use onedata::demo::{write_demo_session, DemoSpec};
use onedata::describe::{describe_file, Description};
use onedata::discover::iter_sessions;
use onedata::{Session, SessionData};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let demo_root;
    let root = match std::env::args().nth(1) {
        Some(root) => std::path::PathBuf::from(root),
        None => {
            demo_root = tempfile::tempdir()?;
            for (mouse, id) in [("ATL027", "701"), ("ATL028", "702")] {
                let spec = DemoSpec {
                    mouse: mouse.into(),
                    session_id: id.into(),
                    frames: 500,
                    rois_per_plane: vec![16, 8],
                    ..DemoSpec::default()
                };
                write_demo_session(demo_root.path(), &spec)?;
            }
            demo_root.path().to_path_buf()
        }
    };

    let sessions = iter_sessions(&root)?;
    println!("{} session(s) under {}", sessions.len(), root.display());
    for found in sessions {
        let session = Session::at(&found.path, found.id)?;
        println!("{}", session.session_print("/"));
        for path in session.get_saved_one()? {
            let name = onedata::names::format_saved(&path, false, true);
            let what = match describe_file(&path) {
                Ok(Description::Dense(h)) => format!("{} {:?}", h.dtype().descr(), h.shape()),
                Ok(Description::Sparse(i)) => {
                    format!("sparse {} {:?} nnz={}", i.format, i.shape, i.nnz)
                }
                Ok(Description::Recipe(r)) => format!(
                    "recipe {}({})",
                    r.loader_type,
                    r.source_arg.as_deref().unwrap_or("")
                ),
                Ok(Description::Object(_, value)) => format!("object {}", value.summary()),
                Err(e) => format!("unreadable: {e}"),
            };
            println!("  {name:<45} {what}");
        }
    }
    Ok(())
}
