//! Open a B2 session and load its spks: the first thing an analysis does.
//!
//! ```text
//! cargo run --release --example load_spks -- SESSION_DIR [SPKS_TYPE]
//! cargo run --release --example load_spks            # writes a small demo session first
//! ```
//!
//! `SESSION_DIR` is `ROOT/<mouse>/<YYYY-MM-DD>/<session_id>`; `SPKS_TYPE` is
//! one of vrAnalysis's spks types (`significant`, the default, `oasis`,
//! `deconvolved`, `raw`, `neuropil`, `sigbase`, `sigrebase`, `corrected`).

use onedata::b2::{B2Session, SpksType};
use onedata::demo::{write_demo_session, DemoSpec};
use onedata::SessionData;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let demo_root;
    let dir = match args.next() {
        Some(dir) => std::path::PathBuf::from(dir),
        None => {
            demo_root = tempfile::tempdir()?;
            let spec = DemoSpec {
                frames: 2_000,
                rois_per_plane: vec![64, 32],
                ..DemoSpec::default()
            };
            let dir = write_demo_session(demo_root.path(), &spec)?;
            println!("wrote a demo session in {}", dir.display());
            dir
        }
    };
    let spks_type: SpksType = args.next().as_deref().unwrap_or("significant").parse()?;

    let session = B2Session::open(&dir)?.clone_with_spks_type(spks_type);
    println!("session {}", session.session_print("/"));
    for name in session.print_saved_one(false, true)? {
        println!("  {name}");
    }

    let spks = session.spks()?; // mapped (or decoded once), then cached
    let shape = spks.shape();
    println!(
        "spks ({}): {} {:?}, {} mapped, {} owned",
        spks_type.name(),
        spks.dtype().descr(),
        shape,
        spks.mapped_bytes(),
        spks.owned_bytes()
    );
    // Mean activity of each ROI over frames, from the zero-copy view.
    let view = spks.view2::<f32>()?;
    let means = view.mean_axis(ndarray::Axis(0)).unwrap_or_default();
    let shown: Vec<String> = means.iter().take(5).map(|m| format!("{m:.4}")).collect();
    println!("mean of the first ROIs: {}", shown.join(", "));
    Ok(())
}
