//! Child specs stay visible (OTP's `which_children`, `count_children`,
//! `get_childspec`): each child's snapshot says what it is and how it is
//! supervised, in Rust and in `/status`.

use std::time::Duration;

use janus::lifecycle::{ChildKind, ServicePhase};
use janus::supervisor::RestartPolicy;
use janus::testing::{Behavior, TestService};
use janus::tree::{ChildCounts, ChildOptions, DynamicSupervisorSpec, SupervisorSpec};
use tests_integration::secs;

fn idle(name: &str) -> TestService {
    TestService::new(name, Behavior::RunUntilCancelled)
}

fn desk() -> SupervisorSpec {
    SupervisorSpec::new("desk")
        .child_with(
            idle("feed").with_shutdown_timeout(secs(2)),
            ChildOptions::new()
                .with_critical(true)
                .with_restart_policy(RestartPolicy::Always),
        )
        .child_with(
            idle("reports"),
            ChildOptions::new()
                .with_expendable(true)
                .with_shutdown_timeout(Duration::MAX),
        )
        .child(SupervisorSpec::new("risk").child(idle("limits")))
        .child(DynamicSupervisorSpec::new("batches", |(): ()| {
            idle("batch")
        }))
}

#[tokio::test(start_paused = true)]
async fn snapshots_show_each_childs_spec() {
    let desk = desk().start().await.expect("starts");
    let feed = desk.snapshot("desk/feed").expect("feed");
    assert_eq!(feed.kind, ChildKind::Worker);
    assert_eq!(feed.restart_policy, RestartPolicy::Always);
    assert_eq!(feed.shutdown_timeout_ms, Some(2_000));
    assert!(feed.critical && !feed.expendable && !feed.significant);

    let reports = desk.snapshot("desk/reports").expect("reports");
    assert_eq!(reports.shutdown_timeout_ms, None, "infinity");
    assert_eq!(reports.restart_policy, RestartPolicy::OnFailure);
    assert!(reports.expendable);

    for supervisor in ["desk/risk", "desk/batches"] {
        let s = desk.snapshot(supervisor).expect("listed");
        assert_eq!(s.kind, ChildKind::Supervisor, "{supervisor}");
    }
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn which_children_and_count_children_see_one_level() {
    let desk = desk().start().await.expect("starts");
    let names: Vec<String> = desk.children().into_iter().map(|s| s.path).collect();
    assert_eq!(
        names,
        ["desk/feed", "desk/reports", "desk/risk", "desk/batches"]
    );
    let counts = desk.count_children();
    assert_eq!(
        (
            counts.specs,
            counts.active,
            counts.supervisors,
            counts.workers
        ),
        (4, 4, 2, 2)
    );
    desk.stop_child("reports").await.expect("stopped");
    let stopped: ChildCounts = desk.count_children();
    assert_eq!((stopped.specs, stopped.active), (4, 3));
    desk.delete_child("reports").await.expect("deleted");
    assert_eq!(desk.count_children().specs, 3);
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[tokio::test(start_paused = true)]
async fn a_stopped_child_restarts_as_declared() {
    let desk = desk().start().await.expect("starts");
    desk.stop_child("feed").await.expect("stopped");
    desk.restart_child("feed").await.expect("restarted");
    let feed = desk.snapshot("desk/feed").expect("feed");
    assert_eq!(feed.phase, ServicePhase::Running);
    assert_eq!(feed.restart_policy, RestartPolicy::Always, "its spec kept");
    assert_eq!(feed.shutdown_timeout_ms, Some(2_000));
    desk.shutdown();
    desk.wait().await.expect("stops");
}

#[test]
fn the_spec_serializes_as_status_shows_it() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let desk = desk().start().await.expect("starts");
        let feed = desk.snapshot("desk/feed").expect("feed");
        let json = serde_json::to_value(&feed).expect("serializes");
        assert_eq!(json["kind"], "worker");
        assert_eq!(json["restart_policy"], "always");
        assert_eq!(json["shutdown_timeout_ms"], 2_000);
        let risk = serde_json::to_value(desk.snapshot("desk/risk").expect("risk")).expect("json");
        assert_eq!(risk["kind"], "supervisor");
        // Snapshots written before these fields existed still read.
        let mut old = json.clone();
        for key in [
            "kind",
            "restart_policy",
            "shutdown_timeout_ms",
            "expendable",
            "significant",
        ] {
            old.as_object_mut().expect("object").remove(key);
        }
        let read: janus::lifecycle::ServiceLifecycleSnapshot =
            serde_json::from_value(old).expect("reads");
        assert_eq!(read.kind, ChildKind::Worker);
        desk.shutdown();
        desk.wait().await.expect("stops");
    });
}
