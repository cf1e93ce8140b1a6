//! The rollout of one namespace's intents, as a pure state machine: the
//! controller feeds it what happened (the intents changed, an evidence report,
//! an annotation, the clock ticked, the controller restarted) and carries out
//! the actions it returns. Time is an argument, so every transition is tested
//! without waiting.
//!
//! Pending → Auditing (audit manifests applied) → Ready (the observe window
//! passed with a healthy evidence stream, the audit gate's verdict on the
//! evidence passing: every service seen or waived, a window of at least the
//! minimum covering each CronJob's period, no gap; and nothing that would be
//! dropped) → Enforcing (on approval, or at once with
//! auto-promotion). A would-drop flow moves Auditing or Ready to Blocked; a
//! change of the intents starts a new audit of what changed while what was
//! enforced stays enforced. Enforce objects are always applied before audit
//! objects are removed, so there is no window without protection.

use crate::crd::WouldDrop;

/// The phases
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// nothing applied yet
    Pending,
    /// audit manifests applied; evidence is being gathered
    Auditing,
    /// the window passed cleanly; waiting for approval
    Ready,
    /// enforce manifests applied
    Enforcing,
    /// enforcement would drop observed traffic
    Blocked,
}

impl Phase {
    /// The name the status shows
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Pending => "Pending",
            Phase::Auditing => "Auditing",
            Phase::Ready => "Ready",
            Phase::Enforcing => "Enforcing",
            Phase::Blocked => "Blocked",
        }
    }

    /// The phase of that name
    pub fn parse(name: &str) -> Option<Phase> {
        [
            Phase::Pending,
            Phase::Auditing,
            Phase::Ready,
            Phase::Enforcing,
            Phase::Blocked,
        ]
        .into_iter()
        .find(|p| p.as_str() == name)
    }
}

/// The promotion policy, with defaults filled in
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// seconds of clean evidence before Ready
    pub observe_seconds: i64,
    /// a gap this long restarts the window
    pub max_gap_seconds: i64,
    /// promote without approval
    pub auto_promote: bool,
}

impl Default for Policy {
    fn default() -> Self {
        Self {
            observe_seconds: 7 * 24 * 3600,
            max_gap_seconds: 600,
            auto_promote: false,
        }
    }
}

impl From<&crate::crd::RolloutPolicy> for Policy {
    fn from(p: &crate::crd::RolloutPolicy) -> Self {
        let d = Policy::default();
        Self {
            observe_seconds: p
                .observe_seconds
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(d.observe_seconds),
            max_gap_seconds: p
                .max_gap_seconds
                .and_then(|s| i64::try_from(s).ok())
                .unwrap_or(d.max_gap_seconds),
            auto_promote: p.auto_promote,
        }
    }
}

/// Where a namespace is
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct State {
    /// the phase
    pub phase: Phase,
    /// when it began (seconds since the epoch)
    pub since: i64,
    /// the intents generation being rolled out
    pub generation: i64,
    /// the generation whose enforce manifests are applied, if any
    pub enforced: Option<i64>,
    /// when the current clean evidence window began
    pub window_start: i64,
    /// whether the last evidence report's verdict passed: every service seen
    /// (or waived) and the rest of the evidence enough (window, CronJob
    /// periods, gaps); Ready waits for it
    pub all_services_seen: bool,
    /// what enforcement would drop (Blocked)
    pub would_drop: Vec<WouldDrop>,
}

impl State {
    /// A namespace nothing has been done for
    pub fn new(now: i64) -> Self {
        Self {
            phase: Phase::Pending,
            since: now,
            generation: 0,
            enforced: None,
            window_start: now,
            all_services_seen: false,
            would_drop: Vec::new(),
        }
    }
}

/// What the evidence said over the last interval
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EvidenceReport {
    /// the longest stretch without any record (seconds), lost records
    /// counted as a gap
    pub longest_gap_seconds: i64,
    /// services with no traffic observed so far
    pub unseen_services: Vec<String>,
    /// flows enforcement would drop
    pub would_drop: Vec<WouldDrop>,
    /// what the audit gate's verdict finds missing in the evidence, as
    /// `palisade audit` says it (empty: the verdict passes)
    pub missing_evidence: Vec<String>,
    /// services the project waives, with the reason (`shop/batch (runs at
    /// quarter end)`)
    pub waived: Vec<String>,
}

impl EvidenceReport {
    /// Whether the evidence is enough to judge by: no service unseen, nothing missing
    pub fn sufficient(&self) -> bool {
        self.unseen_services.is_empty() && self.missing_evidence.is_empty()
    }
}

/// What happened
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// the Intents resource now has this generation
    IntentsChanged(i64),
    /// an evidence report arrived
    Evidence(EvidenceReport),
    /// `palisade.dev/approve` was set for the current generation
    Approve,
    /// `palisade.dev/approve-despite-drops` was set for the current
    /// generation: enforce although observed traffic would be dropped
    ApproveDespiteDrops,
    /// `palisade.dev/rollback` was set
    Rollback,
    /// time passed
    Tick,
    /// the controller started again: re-issue what the phase needs
    Resume,
}

/// What to do, in order
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// apply the audit manifests of the generation
    ApplyAudit(i64),
    /// apply the enforce manifests of the generation
    ApplyEnforce(i64),
    /// remove the audit manifests
    RemoveAudit,
    /// remove the enforce manifests
    RemoveEnforce,
    /// record a Kubernetes Event (reason, message)
    Event(&'static str, String),
}

/// One step: the next state and the actions that get there
pub fn step(state: &State, input: &Input, now: i64, policy: &Policy) -> (State, Vec<Action>) {
    let mut next = state.clone();
    let mut actions = Vec::new();
    let enter = |next: &mut State, phase: Phase| {
        next.phase = phase;
        next.since = now;
    };
    match (state.phase, input) {
        (_, Input::IntentsChanged(generation)) if *generation == state.generation && state.phase != Phase::Pending => {}
        (_, Input::IntentsChanged(generation)) => {
            // A new audit of the new generation; what is enforced stays enforced.
            next.generation = *generation;
            next.window_start = now;
            next.would_drop.clear();
            next.all_services_seen = false;
            enter(&mut next, Phase::Auditing);
            actions.push(Action::ApplyAudit(*generation));
            actions.push(Action::Event("Auditing", format!("auditing generation {generation}")));
        }
        (Phase::Pending, Input::Tick | Input::Resume) if state.generation > 0 => {
            enter(&mut next, Phase::Auditing);
            next.window_start = now;
            actions.push(Action::ApplyAudit(state.generation));
        }
        (Phase::Auditing | Phase::Ready, Input::Evidence(report)) if !report.would_drop.is_empty() => {
            next.would_drop = report.would_drop.clone();
            enter(&mut next, Phase::Blocked);
            let list: Vec<String> = report
                .would_drop
                .iter()
                .map(|w| {
                    format!(
                        "{} -> {} {} (add: {})",
                        w.source,
                        w.destination,
                        w.ports.join(","),
                        w.intent
                    )
                })
                .collect();
            actions.push(Action::Event("WouldDrop", list.join("; ")));
        }
        (Phase::Auditing | Phase::Ready, Input::Evidence(report)) => {
            next.all_services_seen = report.sufficient();
            // Ready holds only while the verdict passes; the window goes on.
            if !next.all_services_seen && state.phase == Phase::Ready {
                enter(&mut next, Phase::Auditing);
            }
            if next.all_services_seen != state.all_services_seen {
                actions.push(if next.all_services_seen {
                    Action::Event(
                        "EvidenceSufficient",
                        match report.waived.as_slice() {
                            [] => "the evidence is enough to judge by".to_string(),
                            waived => format!("the evidence is enough to judge by; waived: {}", waived.join(", ")),
                        },
                    )
                } else {
                    let mut missing = report.missing_evidence.clone();
                    for service in &report.unseen_services {
                        let said = format!("{service} was never seen");
                        if !missing.iter().any(|m| m.starts_with(&said)) {
                            missing.push(format!("{said}: no flow from or to it"));
                        }
                    }
                    Action::Event("EvidenceInsufficient", missing.join("; "))
                });
            }
            if report.longest_gap_seconds > policy.max_gap_seconds {
                next.window_start = now;
                if state.phase == Phase::Ready {
                    enter(&mut next, Phase::Auditing);
                }
                actions.push(Action::Event(
                    "EvidenceGap",
                    format!(
                        "no evidence for {} s (more than {} s): the observe window starts again",
                        report.longest_gap_seconds, policy.max_gap_seconds
                    ),
                ));
            }
        }
        (Phase::Auditing, Input::Tick)
            if now - state.window_start >= policy.observe_seconds && state.all_services_seen =>
        {
            if policy.auto_promote {
                enter(&mut next, Phase::Enforcing);
                next.enforced = Some(state.generation);
                actions.extend(promote(state.generation));
            } else {
                enter(&mut next, Phase::Ready);
                actions.push(Action::Event(
                    "Ready",
                    format!(
                        "observed {} s without a would-drop flow; approve with palisade.dev/approve",
                        policy.observe_seconds
                    ),
                ));
            }
        }
        // A standing approval written before the evidence turned is not an
        // approval of the drops: a Blocked generation needs its own word.
        (Phase::Blocked, Input::Approve) => {
            actions.push(Action::Event(
                "ApprovalIgnored",
                format!(
                    "generation {} is Blocked: enforcing would drop {} observed flows; add the allow lines, \
                     or set palisade.dev/approve-despite-drops: \"{}\" to enforce anyway",
                    state.generation,
                    state.would_drop.len(),
                    state.generation
                ),
            ));
        }
        (Phase::Ready | Phase::Blocked, Input::Approve | Input::ApproveDespiteDrops) => {
            if state.phase == Phase::Blocked {
                actions.push(Action::Event(
                    "ApprovedDespiteWouldDrop",
                    format!("{} flows will be dropped", state.would_drop.len()),
                ));
            }
            enter(&mut next, Phase::Enforcing);
            next.enforced = Some(state.generation);
            next.would_drop.clear();
            actions.extend(promote(state.generation));
        }
        // A generation that was never enforced goes back to nothing of its
        // own: its audit objects go, and what an older generation enforces stays.
        (Phase::Ready | Phase::Blocked, Input::Rollback) if state.enforced.is_some_and(|e| e != state.generation) => {
            enter(&mut next, Phase::Pending);
            next.would_drop.clear();
            actions.push(Action::RemoveAudit);
            actions.push(Action::Event(
                "RolledBack",
                format!(
                    "generation {} no longer audited; generation {} stays enforced",
                    state.generation,
                    state.enforced.unwrap_or_default()
                ),
            ));
        }
        (Phase::Enforcing | Phase::Ready | Phase::Blocked, Input::Rollback) => {
            // Back to audit: audit objects first, then enforcement goes.
            enter(&mut next, Phase::Auditing);
            next.window_start = now;
            next.enforced = None;
            next.would_drop.clear();
            actions.push(Action::ApplyAudit(state.generation));
            if state.enforced.is_some() {
                actions.push(Action::RemoveEnforce);
            }
            actions.push(Action::Event(
                "RolledBack",
                format!("generation {} back to audit", state.generation),
            ));
        }
        (Phase::Auditing, Input::Rollback) => {
            enter(&mut next, Phase::Pending);
            actions.push(Action::RemoveAudit);
            actions.push(Action::Event("RolledBack", "audit removed".into()));
        }
        (Phase::Auditing | Phase::Ready | Phase::Blocked, Input::Resume) => {
            actions.push(Action::ApplyAudit(state.generation));
        }
        (Phase::Enforcing, Input::Resume) => actions.extend(promote(state.generation)),
        _ => {}
    }
    (next, actions)
}

/// Enforce first, then remove the audit objects: never a moment unprotected
fn promote(generation: i64) -> Vec<Action> {
    vec![
        Action::ApplyEnforce(generation),
        Action::RemoveAudit,
        Action::Event("Enforcing", format!("generation {generation} enforced")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: i64 = 3600;

    fn policy() -> Policy {
        Policy {
            observe_seconds: 24 * HOUR,
            max_gap_seconds: 600,
            auto_promote: false,
        }
    }

    fn clean() -> Input {
        Input::Evidence(EvidenceReport::default())
    }

    fn dropped() -> Input {
        Input::Evidence(EvidenceReport {
            would_drop: vec![WouldDrop {
                source: "shop/frontend".into(),
                destination: "shop/backend".into(),
                ports: vec!["tcp/9090".into()],
                count: 3,
                intent: "frontend -> backend tcp/9090".into(),
            }],
            ..EvidenceReport::default()
        })
    }

    fn gap(seconds: i64) -> Input {
        Input::Evidence(EvidenceReport {
            longest_gap_seconds: seconds,
            ..EvidenceReport::default()
        })
    }

    fn kinds(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Event(reason, _) => format!("event:{reason}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    /// Run a script of (seconds after start, input) from a fresh state; return
    /// the phase after each step and every action taken
    fn run(script: &[(i64, Input)], policy: &Policy) -> (Vec<Phase>, Vec<String>, State) {
        let mut state = State::new(0);
        let mut phases = Vec::new();
        let mut all = Vec::new();
        for (at, input) in script {
            let (next, actions) = step(&state, input, *at, policy);
            phases.push(next.phase);
            all.extend(kinds(&actions));
            state = next;
        }
        (phases, all, state)
    }

    #[test]
    fn a_clean_window_makes_ready_and_approval_enforces_before_removing_audit() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (HOUR, clean()),
                (12 * HOUR, Input::Tick),
                (24 * HOUR, Input::Tick),
                (25 * HOUR, Input::Approve),
            ],
            &policy(),
        );
        use Phase::*;
        assert_eq!(phases, [Auditing, Auditing, Auditing, Ready, Enforcing]);
        assert_eq!(
            actions,
            [
                "ApplyAudit(1)",
                "event:Auditing",
                "event:EvidenceSufficient",
                "event:Ready",
                "ApplyEnforce(1)",
                "RemoveAudit",
                "event:Enforcing"
            ]
        );
        assert_eq!(state.enforced, Some(1));
    }

    #[test]
    fn auto_promotion_skips_the_approval() {
        let policy = Policy {
            auto_promote: true,
            ..policy()
        };
        let (phases, actions, _) = run(
            &[(0, Input::IntentsChanged(1)), (1, clean()), (24 * HOUR, Input::Tick)],
            &policy,
        );
        assert_eq!(phases.last(), Some(&Phase::Enforcing));
        assert_eq!(actions[3..], ["ApplyEnforce(1)", "RemoveAudit", "event:Enforcing"]);
    }

    fn insufficient(missing: &str) -> Input {
        Input::Evidence(EvidenceReport {
            missing_evidence: vec![missing.into()],
            ..EvidenceReport::default()
        })
    }

    #[test]
    fn evidence_the_verdict_finds_short_holds_ready_and_auto_promotion_back() {
        let short = "window 2h 10m is shorter than the minimum 24h (project evidence.minWindow)";
        for auto_promote in [false, true] {
            let policy = Policy {
                auto_promote,
                ..policy()
            };
            let (phases, actions, state) = run(
                &[
                    (0, Input::IntentsChanged(1)),
                    (HOUR, insufficient(short)),
                    (30 * HOUR, Input::Tick),
                ],
                &policy,
            );
            assert_eq!(phases.last(), Some(&Phase::Auditing), "auto_promote {auto_promote}");
            assert!(!state.all_services_seen);
            assert!(!actions.iter().any(|a| a.starts_with("ApplyEnforce")), "{actions:?}");
        }
    }

    #[test]
    fn ready_goes_back_to_auditing_when_the_verdict_fails_and_says_why() {
        let cron = "CronJob shop/report runs every 7d; the window 2d does not cover one period";
        let mut state = State::new(0);
        let mut said = Vec::new();
        for (at, input) in [
            (0, Input::IntentsChanged(1)),
            (1, clean()),
            (24 * HOUR, Input::Tick),
            (25 * HOUR, insufficient(cron)),
        ] {
            let (next, actions) = step(&state, &input, at, &policy());
            said.extend(actions);
            state = next;
        }
        assert_eq!(state.phase, Phase::Auditing);
        assert!(
            said.contains(&Action::Event("EvidenceInsufficient", cron.to_string())),
            "{said:?}"
        );
        let (next, _) = step(&state, &Input::Approve, 26 * HOUR, &policy());
        assert_eq!(
            next.phase,
            Phase::Auditing,
            "no approval before the verdict passes again"
        );
    }

    #[test]
    fn waivers_are_said_when_the_evidence_becomes_enough() {
        let waived = Input::Evidence(EvidenceReport {
            waived: vec!["shop/batch (runs at quarter end)".into()],
            ..EvidenceReport::default()
        });
        let (_, actions) = step(
            &State {
                phase: Phase::Auditing,
                ..State::new(0)
            },
            &waived,
            1,
            &policy(),
        );
        assert_eq!(
            actions,
            [Action::Event(
                "EvidenceSufficient",
                "the evidence is enough to judge by; waived: shop/batch (runs at quarter end)".into()
            )]
        );
    }

    #[test]
    fn unseen_services_hold_the_window_open() {
        let unseen = Input::Evidence(EvidenceReport {
            unseen_services: vec!["shop/batch".into()],
            ..EvidenceReport::default()
        });
        let (phases, _, _) = run(
            &[(0, Input::IntentsChanged(1)), (1, unseen), (30 * HOUR, Input::Tick)],
            &policy(),
        );
        assert_eq!(
            phases.last(),
            Some(&Phase::Auditing),
            "no traffic seen for a service is not evidence"
        );
    }

    #[test]
    fn an_evidence_gap_restarts_the_window() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (HOUR, clean()),
                (20 * HOUR, gap(3600)),
                (24 * HOUR, Input::Tick),
                (44 * HOUR, Input::Tick),
            ],
            &policy(),
        );
        assert_eq!(phases[3], Phase::Auditing, "the window restarted at hour 20");
        assert_eq!(phases[4], Phase::Ready);
        assert!(actions.contains(&"event:EvidenceGap".to_string()));
        assert_eq!(state.window_start, 20 * HOUR);
        // A gap after Ready sends it back to Auditing.
        let (phases, _, _) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, clean()),
                (24 * HOUR, Input::Tick),
                (25 * HOUR, gap(900)),
            ],
            &policy(),
        );
        assert_eq!(phases[2..], [Phase::Ready, Phase::Auditing]);
    }

    #[test]
    fn a_late_would_drop_blocks_even_when_ready() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, clean()),
                (24 * HOUR, Input::Tick),
                (26 * HOUR, dropped()),
            ],
            &policy(),
        );
        assert_eq!(phases.last(), Some(&Phase::Blocked));
        assert_eq!(state.would_drop.len(), 1);
        assert!(actions.contains(&"event:WouldDrop".to_string()));
        assert!(
            !actions.iter().any(|a| a.starts_with("ApplyEnforce")),
            "nothing enforced"
        );
    }

    #[test]
    fn a_blocked_namespace_waits_for_new_intents_or_an_explicit_approval() {
        let script = [
            (0, Input::IntentsChanged(1)),
            (1, dropped()),
            (2 * HOUR, Input::Tick),
            (3 * HOUR, Input::IntentsChanged(2)),
        ];
        let (phases, actions, state) = run(&script, &policy());
        assert_eq!(
            phases,
            [Phase::Auditing, Phase::Blocked, Phase::Blocked, Phase::Auditing]
        );
        assert_eq!(actions.iter().filter(|a| a.starts_with("ApplyAudit")).count(), 2);
        assert!(state.would_drop.is_empty());
        // The approval that a Ready namespace takes does not enforce a Blocked one
        let (phases, actions, _) = run(
            &[(0, Input::IntentsChanged(1)), (1, dropped()), (2, Input::Approve)],
            &policy(),
        );
        assert_eq!(phases.last(), Some(&Phase::Blocked));
        assert!(actions.contains(&"event:ApprovalIgnored".to_string()), "{actions:?}");
        assert!(!actions.iter().any(|a| a.starts_with("ApplyEnforce")), "{actions:?}");
        let (phases, actions, _) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, dropped()),
                (2, Input::ApproveDespiteDrops),
            ],
            &policy(),
        );
        assert_eq!(phases.last(), Some(&Phase::Enforcing));
        assert!(actions.contains(&"event:ApprovedDespiteWouldDrop".to_string()));
    }

    /// Rolling back a generation that was never enforced keeps the one that is
    #[test]
    fn a_rollback_of_an_unpromoted_generation_keeps_the_enforced_one() {
        let enforcing = State {
            phase: Phase::Ready,
            generation: 2,
            enforced: Some(1),
            ..State::new(0)
        };
        for phase in [Phase::Ready, Phase::Blocked] {
            let state = State {
                phase,
                ..enforcing.clone()
            };
            let (next, actions) = step(&state, &Input::Rollback, 10, &policy());
            assert_eq!(next.enforced, Some(1), "{phase:?}");
            assert!(!actions.contains(&Action::RemoveEnforce), "{phase:?}: {actions:?}");
            assert!(actions.contains(&Action::RemoveAudit), "{phase:?}: {actions:?}");
        }
    }

    #[test]
    fn approval_before_ready_does_nothing() {
        let (phases, actions, _) = run(&[(0, Input::IntentsChanged(1)), (1, Input::Approve)], &policy());
        assert_eq!(phases.last(), Some(&Phase::Auditing));
        assert_eq!(actions, ["ApplyAudit(1)", "event:Auditing"]);
    }

    #[test]
    fn an_intent_change_while_enforcing_audits_the_new_generation_and_keeps_enforcing_the_old() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, clean()),
                (24 * HOUR, Input::Tick),
                (25 * HOUR, Input::Approve),
                (30 * HOUR, Input::IntentsChanged(2)),
            ],
            &policy(),
        );
        assert_eq!(phases.last(), Some(&Phase::Auditing));
        assert_eq!(
            state.enforced,
            Some(1),
            "generation 1 stays enforced while 2 is audited"
        );
        assert_eq!(actions.last().map(String::as_str), Some("event:Auditing"));
        assert!(!actions.contains(&"RemoveEnforce".to_string()));
        // The same generation again (a resync) changes nothing.
        let (again, actions) = step(&state, &Input::IntentsChanged(2), 31 * HOUR, &policy());
        assert_eq!((again, actions), (state, Vec::new()));
    }

    #[test]
    fn rollback_reapplies_audit_before_removing_enforcement() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, clean()),
                (24 * HOUR, Input::Tick),
                (25 * HOUR, Input::Approve),
                (26 * HOUR, Input::Rollback),
            ],
            &policy(),
        );
        assert_eq!(phases.last(), Some(&Phase::Auditing));
        let tail: Vec<&str> = actions.iter().rev().take(3).rev().map(String::as_str).collect();
        assert_eq!(tail, ["ApplyAudit(1)", "RemoveEnforce", "event:RolledBack"]);
        assert_eq!((state.enforced, state.window_start), (None, 26 * HOUR));
        // Rolling back an audit removes it.
        let (phases, actions, _) = run(&[(0, Input::IntentsChanged(1)), (1, Input::Rollback)], &policy());
        assert_eq!(phases.last(), Some(&Phase::Pending));
        assert_eq!(actions[2..], ["RemoveAudit", "event:RolledBack"]);
    }

    #[test]
    fn a_restart_mid_promotion_reissues_the_same_idempotent_actions_in_the_same_order() {
        let enforcing = State {
            phase: Phase::Enforcing,
            since: 10,
            generation: 3,
            enforced: Some(3),
            window_start: 0,
            all_services_seen: true,
            would_drop: Vec::new(),
        };
        let (next, actions) = step(&enforcing, &Input::Resume, 99, &policy());
        assert_eq!(next, enforcing, "a restart changes no state");
        assert_eq!(kinds(&actions), ["ApplyEnforce(3)", "RemoveAudit", "event:Enforcing"]);
        let auditing = State {
            phase: Phase::Auditing,
            ..enforcing
        };
        let (_, actions) = step(&auditing, &Input::Resume, 99, &policy());
        assert_eq!(actions, [Action::ApplyAudit(3)]);
    }

    #[test]
    fn an_intent_change_mid_audit_restarts_the_window_for_the_new_generation() {
        let (phases, actions, state) = run(
            &[
                (0, Input::IntentsChanged(1)),
                (1, clean()),
                (20 * HOUR, Input::IntentsChanged(2)),
                (24 * HOUR, Input::Tick),
                (44 * HOUR, clean()),
                (44 * HOUR, Input::Tick),
            ],
            &policy(),
        );
        assert_eq!(
            phases[3],
            Phase::Auditing,
            "hour 24 is only 4 hours into generation 2's window"
        );
        assert_eq!(phases[5], Phase::Ready);
        assert_eq!(actions.iter().filter(|a| a.starts_with("ApplyAudit")).count(), 2);
        assert_eq!((state.generation, state.window_start), (2, 20 * HOUR));
    }

    #[test]
    fn phases_round_trip_through_their_names() {
        for p in [
            Phase::Pending,
            Phase::Auditing,
            Phase::Ready,
            Phase::Enforcing,
            Phase::Blocked,
        ] {
            assert_eq!(Phase::parse(p.as_str()), Some(p));
        }
        assert_eq!(Phase::parse("Enforced"), None);
    }
}
