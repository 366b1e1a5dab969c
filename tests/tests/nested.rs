//! Handles to nested supervisors: a tree's supervisors are addressed by
//! path, and managed there as the root is.

use janus::lifecycle::ServicePhase::{Running, Terminated};
use janus::testing::{Behavior, TestService};
use janus::tree::{ControlError, SupervisorSpec};
use tests_integration::until;

fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

fn desk() -> SupervisorSpec {
    SupervisorSpec::new("desk").child(idle("feed")).child(
        SupervisorSpec::new("risk")
            .child(idle("limits"))
            .child(SupervisorSpec::new("checks").child(idle("margin"))),
    )
}

#[tokio::test(start_paused = true)]
async fn a_nested_supervisor_is_managed_through_its_own_handle() {
    let desk = desk().start().await.expect("starts");
    let risk = desk.supervisor("desk/risk").expect("risk runs");
    assert_eq!(risk.path(), "desk/risk");

    risk.add_child(idle("exposure")).expect("added there");
    until("exposure runs", || {
        desk.snapshot("desk/risk/exposure")
            .is_some_and(|s| s.phase == Running)
    })
    .await;
    risk.stop_child("limits").await.expect("stopped");
    assert_eq!(
        desk.snapshot("desk/risk/limits").map(|s| s.phase),
        Some(Terminated)
    );
    risk.restart_child("limits").await.expect("restarted");
    assert_eq!(
        desk.snapshot("desk/risk/limits").map(|s| s.phase),
        Some(Running)
    );
    risk.remove_child("exposure").await.expect("removed");
    assert!(desk.snapshot("desk/risk/exposure").is_none());

    // Deeper down, and the root's own path.
    let checks = desk.supervisor("desk/risk/checks").expect("checks runs");
    assert_eq!(checks.snapshots().len(), 1);
    assert_eq!(
        desk.supervisor("desk").map(|h| h.path().to_owned()),
        Some("desk".into())
    );
    // The root's children are not reached through a nested handle.
    assert_eq!(
        risk.stop_child("feed").await,
        Err(ControlError::NoSuchChild {
            name: "feed".into()
        })
    );

    desk.shutdown();
    desk.wait().await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn only_running_supervisors_have_handles() {
    let desk = desk().start().await.expect("starts");
    assert!(desk.supervisor("desk/nope").is_none(), "no such child");
    assert!(desk.supervisor("desk/feed").is_none(), "a worker");
    assert!(desk.supervisor("risk").is_none(), "paths start at the root");
    desk.stop_child("risk").await.expect("stopped");
    assert!(desk.supervisor("desk/risk").is_none(), "terminated");
    assert!(desk.supervisor("desk/risk/checks").is_none());
    desk.shutdown();
    desk.wait().await.expect("clean");
}

/// As in OTP, a restarted supervisor starts from its spec: the children
/// added at run time are gone, and the old handle is of a run that ended.
#[tokio::test(start_paused = true)]
async fn a_restarted_supervisor_is_a_new_run_with_a_new_handle() {
    let desk = desk().start().await.expect("starts");
    let old = desk.supervisor("desk/risk").expect("risk runs");
    old.add_child(idle("exposure")).expect("added");

    desk.restart_child("risk").await.expect("restarted");
    assert_eq!(
        old.add_child(idle("again")),
        Err(janus::supervisor::SpawnError::ShuttingDown {
            service: "again".into()
        })
    );
    assert_eq!(
        old.stop_child("limits").await,
        Err(ControlError::ShuttingDown)
    );

    let new = desk.supervisor("desk/risk").expect("risk runs again");
    new.started().await.expect("its children started");
    assert!(
        desk.snapshot("desk/risk/exposure").is_none(),
        "not in the spec"
    );
    assert_eq!(
        desk.snapshot("desk/risk/limits").map(|s| s.phase),
        Some(Running)
    );
    new.stop_child("limits").await.expect("the new run answers");

    desk.shutdown();
    desk.wait().await.expect("clean");
}
