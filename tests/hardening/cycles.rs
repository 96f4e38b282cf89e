//! Recipes that ask for themselves: a loader that calls `loadone` on the
//! name being loaded, or on a name whose recipe leads back to it (in one
//! thread or across two), is an `ErrorKind::RecipeCycle` naming the files
//! along the cycle, never a deadlock. Every test runs its body in a thread
//! and waits for it at most 30 s, so that a regression fails instead of
//! hanging the suite.

use std::sync::{Arc, Barrier};

use crate::within_30s;

use ndarray::array;
use onedata::recipe::LoadingRecipe;
use onedata::{ErrorKind, OneData, SessionCore, SessionData, SessionId};

/// A session type whose loader `"onedata"` loads the onedata name in the
/// recipe's `source_arg` from the same session.
struct Chained {
    core: SessionCore,
}

impl SessionData for Chained {
    fn core(&self) -> &SessionCore {
        &self.core
    }

    fn spks(&self) -> onedata::Result<Arc<OneData>> {
        self.loadone("spks")
    }

    fn recipe_loaders(&self) -> Vec<&str> {
        vec!["onedata"]
    }

    fn load_recipe_source(&self, recipe: &LoadingRecipe) -> onedata::Result<OneData> {
        let name = recipe.source_arg.as_deref().unwrap_or("spks");
        Ok((*self.loadone(name)?).clone())
    }
}

fn chained(root: &std::path::Path) -> Chained {
    let id = SessionId::new("ATL027", "2024-06-12", Some("701")).unwrap();
    Chained {
        core: SessionCore::new(id.clone(), id.path_under(root)).unwrap(),
    }
}

/// Saves, as `name`, a recipe that loads `target`.
fn link(session: &Chained, name: &str, target: &str) {
    let recipe = LoadingRecipe::new("onedata", Some(target), Vec::<String>::new());
    session.saveone(&recipe, name).unwrap();
}

/// The files of a `RecipeCycle`, failing on any other outcome.
#[track_caller]
fn cycle_of(result: onedata::Result<Arc<OneData>>) -> Vec<String> {
    match result {
        Err(e) => match e.kind() {
            ErrorKind::RecipeCycle { session, files } => {
                assert_eq!(session, "ATL027/2024-06-12/701");
                let msg = e.to_string();
                assert!(
                    msg.contains(&files.join(" -> ")) && msg.contains("recipe cycle"),
                    "{msg}"
                );
                files.clone()
            }
            other => panic!("expected a RecipeCycle, got {other:?}"),
        },
        Ok(v) => panic!("a recipe cycle resolved to {v:?}"),
    }
}

#[test]
fn a_recipe_loading_its_own_name_is_a_cycle() {
    let files = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = chained(root.path());
        link(&s, "self", "self");
        let files = cycle_of(s.loadone("self"));
        // Nothing was cached, and the name is free again: a plain save and
        // load of it work.
        assert!(!s.core().is_cached("self.npy"));
        s.saveone(&array![1.5f64, 2.5], "self").unwrap();
        let loaded = s
            .loadone_with("self", onedata::LoadOptions::force())
            .unwrap();
        assert_eq!(loaded.view1::<f64>().unwrap(), array![1.5, 2.5]);
        files
    });
    assert_eq!(files, ["self.npy", "self.npy"]);
}

#[test]
fn a_two_name_cycle_in_one_thread_names_both() {
    let (from_a, from_b, message) = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = chained(root.path());
        link(&s, "a", "b");
        link(&s, "b", "a");
        let message = s.loadone("a").unwrap_err().to_string();
        (cycle_of(s.loadone("a")), cycle_of(s.loadone("b")), message)
    });
    assert_eq!(from_a, ["a.npy", "b.npy", "a.npy"]);
    assert_eq!(from_b, ["b.npy", "a.npy", "b.npy"]);
    assert_eq!(
        message,
        "recipe cycle in session ATL027/2024-06-12/701: a.npy -> b.npy -> a.npy; \
         a recipe's loader asks for a name being loaded"
    );
}

#[test]
fn a_longer_cycle_names_every_file_in_order() {
    let files = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = chained(root.path());
        link(&s, "entry", "a");
        link(&s, "a", "b");
        link(&s, "b", "c");
        link(&s, "c", "a");
        cycle_of(s.loadone("entry"))
    });
    // `entry` leads into the cycle but is not part of it.
    assert_eq!(files, ["a.npy", "b.npy", "c.npy", "a.npy"]);
}

/// Two threads each load one end of `a -> b -> a` at the same time: thread
/// one holds `a` and waits for `b` while thread two holds `b` and asks for
/// `a`. The one that closes the cycle gets the error; the other then gets
/// `b`, whose recipe asks for `a`, which it holds: an error as well. Neither
/// hangs, and neither gets a value (there is none to get).
#[test]
fn two_threads_on_the_ends_of_a_cycle_both_get_the_error() {
    let results = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = Arc::new(chained(root.path()));
        link(&s, "a", "b");
        link(&s, "b", "a");
        let start = Arc::new(Barrier::new(2));
        let threads: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|name| {
                let (s, start) = (s.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    s.loadone(name)
                })
            })
            .collect();
        let results: Vec<Vec<String>> = threads
            .into_iter()
            .map(|t| cycle_of(t.join().unwrap()))
            .collect();
        assert!(!s.core().is_cached("a.npy") && !s.core().is_cached("b.npy"));
        results
    });
    let two = ["a.npy", "b.npy"].map(String::from);
    for files in &results {
        // Either rotation of the one cycle.
        assert_eq!(files.len(), 3, "{files:?}");
        assert_eq!(files[0], files[2]);
        let mut pair = files[..2].to_vec();
        pair.sort();
        assert_eq!(pair, two);
    }
}

#[test]
fn a_recipe_loading_another_plain_file_works() {
    let (first, cached_source) = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = chained(root.path());
        s.saveone(&array![[1i32, 2], [3, 4]], "plain").unwrap();
        link(&s, "pointer", "plain");
        link(&s, "pointer2", "pointer");
        let first = s.loadone("pointer2").unwrap();
        let again = s.loadone("pointer").unwrap();
        assert_eq!(again.view2::<i32>().unwrap(), array![[1, 2], [3, 4]]);
        (
            first.view2::<i32>().unwrap().to_owned(),
            s.core().is_cached("plain.npy"),
        )
    });
    assert_eq!(first, array![[1, 2], [3, 4]]);
    assert!(cached_source);
}

/// Threads loading the same recipe at once still take turns on the name
/// (the second finds it cached) rather than seeing a cycle.
#[test]
fn concurrent_loads_of_one_recipe_are_no_cycle() {
    let values = within_30s(|| {
        let root = tempfile::tempdir().unwrap();
        let s = Arc::new(chained(root.path()));
        s.saveone(&array![7.0f32], "plain").unwrap();
        link(&s, "pointer", "plain");
        let start = Arc::new(Barrier::new(4));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let (s, start) = (s.clone(), start.clone());
                std::thread::spawn(move || {
                    start.wait();
                    s.loadone("pointer").unwrap().view1::<f32>().unwrap()[0]
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().unwrap())
            .collect::<Vec<f32>>()
    });
    assert_eq!(values, [7.0; 4]);
}
