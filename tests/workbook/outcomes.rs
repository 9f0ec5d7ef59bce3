//! Every outcome a verdict can give is reached: each experiment's verdict
//! is fed the measurements of a real default run, altered field by field
//! as another kernel (or a broken one) might report them, and must name
//! the outcome its check gives. Together with the unaltered run, the
//! outcomes reached must be every value the experiment's schema lists.

use std::collections::BTreeSet;
use std::fmt::Debug;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tcp_workbook::experiments::{
    backlog, bind_interface, bind_port, deadlock, listening_socket,
    partial_recv, partial_send, refused, reuseaddr, sixteen,
};
use tcp_workbook::lab::experiment::Verdict;
use tcp_workbook::lab::narrate::Narrator;
use tcp_workbook::workbook::registry;

use crate::{cmd, json_report};

/// One alteration: JSON pointers into the measurements and the values to
/// put there, then the outcome the verdict must give.
type Case<'a, O> = (&'a [(&'a str, Value)], O);

/// The measurements of `name`'s default run with `args`.
fn measured(name: &str, args: &[&str]) -> Value {
    let out = cmd(name).arg("--json").args(args).output().unwrap();
    json_report(&out.stdout)["measurements"].take()
}

/// An errno as the reports write it.
fn errno(name: &str, number: i32) -> Value {
    json!({"name": name, "number": number})
}

/// A narrator that says nothing, for verdicts run by the tests.
fn quiet() -> Narrator {
    Narrator::default_run(true)
}

/// The tokens of what `verdict` gives for `base` unaltered (`unaltered`)
/// and for each case; asserts each case's outcome.
fn reach<M, O>(
    base: &Value,
    verdict: impl Fn(M) -> O,
    unaltered: O,
    cases: &[Case<'_, O>],
) -> BTreeSet<String>
where
    M: DeserializeOwned,
    O: Serialize + Debug + PartialEq + Copy + Into<&'static str>,
{
    // serde's token (the JSON's) and strum's (the runner's) must agree.
    let token = |o: O| {
        let json = serde_json::to_value(o).unwrap();
        assert_eq!(json.as_str(), Some(o.into()), "{o:?}");
        o.into().to_owned()
    };
    let of = |m: &Value| verdict(serde_json::from_value(m.clone()).unwrap());
    assert_eq!(of(base), unaltered, "unaltered: {base}");
    let mut reached = BTreeSet::from([token(unaltered)]);
    for (changes, outcome) in cases {
        let mut m = base.clone();
        let uncaptured = changes.iter().any(|(p, _)| unseen(base, p));
        if uncaptured {
            // Nothing was captured here: a packet check's outcome can only
            // be reached where segments were seen.
            eprintln!("not captured here: {outcome:?} not reached");
            reached.insert(token(*outcome));
            continue;
        }
        for (pointer, value) in changes.iter() {
            *m.pointer_mut(pointer)
                .unwrap_or_else(|| panic!("no {pointer} in {base}")) =
                value.clone();
        }
        assert_eq!(of(&m), *outcome, "with {changes:?}");
        reached.insert(token(*outcome));
    }
    reached
}

/// The values the schema of experiment `name` lists for `observed`,
/// without the runner's failures.
fn schema_outcomes(name: &str) -> BTreeSet<String> {
    let e = registry::find(name).unwrap();
    let schema = (e.schema)();
    let values = schema["$defs"]["Outcome"]["oneOf"].as_array().unwrap();
    values
        .iter()
        .map(|v| v["const"].as_str().unwrap().to_owned())
        .collect()
}

fn assert_all_reached(name: &str, reached: BTreeSet<String>) {
    assert_eq!(reached, schema_outcomes(name), "{name}");
}

fn outcome<M, O>(v: Verdict<M, O>) -> O {
    v.observed
}

/// Whether `pointer` leads into what this run could not see on the wire:
/// a part that is `{"not_captured": why}`, or `null` (a part that did not
/// run, such as 07's two hosts where namespaces are forbidden).
fn unseen(base: &Value, pointer: &str) -> bool {
    let parts: Vec<&str> = pointer.split('/').collect();
    (1..=parts.len()).any(|n| match base.pointer(&parts[..n].join("/")) {
        Some(Value::Null) => true,
        Some(v) => v.get("not_captured").is_some(),
        None => false,
    })
}

/// The segments a run saw at `pointer` (`/wire/seen`), changed by `f`: as
/// another run's capture might have seen them.
fn segments_with(
    base: &Value,
    pointer: &str,
    f: impl FnOnce(&mut Vec<Value>),
) -> Value {
    let Some(seen) = base.pointer(pointer).and_then(Value::as_array) else {
        // Nothing captured here: `reach` skips the case.
        assert!(unseen(base, pointer), "no segments at {pointer} in {base}");
        return Value::Null;
    };
    let mut seen = seen.clone();
    f(&mut seen);
    Value::Array(seen)
}

/// Whether a segment (as JSON) has `flag` among its flags.
fn has(segment: &Value, flag: &str) -> bool {
    segment["flags"]
        .as_str()
        .unwrap()
        .split('|')
        .any(|f| f == flag)
}

#[test]
fn sixteen_reaches_every_outcome() {
    use sixteen::Outcome::*;
    let base = measured("sixteen", &[]);
    let verdict = |o| outcome(sixteen::verdict(o, &quiet()));
    let reached = reach(
        &base,
        verdict,
        Exchanged,
        &[
            (
                &[("/server_received", json!("Hi there, serve?"))],
                MessageAltered,
            ),
            (&[("/client_received", json!("Farewell"))], ReplyAltered),
            (
                &[("/connected_name", json!("127.0.0.1:1"))],
                ConnectedPortDiffers,
            ),
            (
                &[("/connected_peer", json!("127.0.0.1:2"))],
                ConnectedPeerDiffers,
            ),
            (
                &[("/accepted_from", json!("127.0.0.1:2"))],
                ConnectedPeerDiffers,
            ),
            (
                &[("/wire/seen/opening/0", json!("client SYN|ACK"))],
                NoHandshakeOnWire,
            ),
            (&[("/wire/seen/server_bytes", json!(15))], BytesOnWireDiffer),
            (&[("/wire/seen/client_fin", json!(false))], NoFinOnWire),
        ],
    );
    assert_all_reached("sixteen", reached);
}

#[test]
fn partial_recv_reaches_every_outcome() {
    use partial_recv::Outcome::*;
    let base = measured("partial-recv", &[]);
    let verdict = |o| outcome(partial_recv::verdict(o, &quiet()));
    let merged = segments_with(&base, "/split_wire/seen", |s| {
        let data = s.iter_mut().filter(|s| s["len"] != 0);
        data.for_each(|s| s["len"] = json!(16))
    });
    let reached = reach(
        &base,
        verdict,
        PartialReads,
        &[
            (
                &[("/split_recvs/0/returned_bytes", json!(16))],
                WholeMessage,
            ),
            (
                &[("/split_received", json!("Farewell, clien!"))],
                MessageAltered,
            ),
            (&[("/big_intact", json!(false))], BigMessageWhole),
            (&[("/eof_cases/1/sent_bytes", json!(2))], EofMiscounted),
            (
                &[("/big_recvs/0/returned_bytes", json!(5 << 20))],
                RecvOverran,
            ),
            (&[("/split_wire/seen", merged)], PiecesMergedOnWire),
        ],
    );
    assert_all_reached("partial-recv", reached);
}

#[test]
fn partial_send_reaches_every_outcome() {
    use partial_send::Outcome::*;
    let base = measured("partial-send", &[]);
    let verdict = |o| outcome(partial_send::verdict(o, &quiet()));
    let n = base["nonblocking"].as_array().unwrap().len();
    let last = format!("/nonblocking/{}/errno", n - 1);
    let asked = base["timed"]["asked_bytes"].clone();
    let reached = reach(
        &base,
        verdict,
        PartialSend,
        &[
            (&[("/whole/accepted_bytes", json!(8))], SmallSendCut),
            (&[("/nonblocking/0/accepted_bytes", json!(0))], AllOrNothing),
            (&[(last.as_str(), Value::Null)], NeverRefused),
            (&[("/timed/accepted_bytes", asked)], BlockingSendTookAll),
            (&[("/peer_read_bytes", json!(1))], BytesLost),
        ],
    );
    assert_all_reached("partial-send", reached);
}

#[test]
fn listening_socket_reaches_every_outcome() {
    use listening_socket::Outcome::*;
    let base = measured("listening-socket", &[]);
    let verdict = |o| outcome(listening_socket::verdict(o, &quiet()));
    let name = "/conversations/0/connected_name";
    let peer = "/conversations/0/connected_peer";
    let reached = reach(
        &base,
        verdict,
        AcceptsOnly,
        &[
            (&[(name, json!("127.0.0.1:1"))], ConnectedPortDiffers),
            (&[(peer, json!("127.0.0.1:2"))], PeerDiffers),
            (&[("/replies/0", json!("You are nobody"))], RepliesCrossed),
            (&[("/listening_socket/recv", Value::Null)], ListenerAnswered),
            (
                &[("/never_connected/getsockname", json!("127.0.0.1:3"))],
                UnconnectedAnswered,
            ),
        ],
    );
    assert_all_reached("listening-socket", reached);
}

#[test]
fn bind_port_reaches_every_outcome() {
    use bind_port::Outcome::*;
    let mut base = measured("bind-port", &[]);
    // As for an ordinary user, whoever runs the tests.
    base["privileged"]["skipped"] = Value::Null;
    base["privileged"]["errno"] = errno("EACCES", 13);
    let verdict = |o| outcome(bind_port::verdict(o, &quiet()));
    let in_use = errno("EADDRINUSE", 98);
    let reached = reach(
        &base,
        verdict,
        PortClaimed,
        &[
            (&[("/same_address_errno", Value::Null)], PortShared),
            (&[("/all_interfaces_errno", Value::Null)], PortShared),
            (&[("/other_address_errno", in_use)], OtherAddressRefused),
            (&[("/port_zero_got", json!(0))], Port0OutOfRange),
            (&[("/privileged/errno", Value::Null)], PrivilegedAllowed),
        ],
    );
    assert_all_reached("bind-port", reached);
}

#[test]
fn reuseaddr_reaches_every_outcome() {
    use reuseaddr::Outcome::*;
    let base = measured("reuseaddr", &[]);
    let verdict = |o| outcome(reuseaddr::verdict(o, false, &quiet()));
    let in_use = || errno("EADDRINUSE", 98);
    // One case's FINs the other way round: case 2's client first, or
    // case 3's server first.
    let swapped = |case: &str| {
        let at = base[case].as_str().unwrap().to_owned();
        segments_with(&base, "/fins/seen", |s| {
            let of = |x: &Value| x["src"] == *at || x["dst"] == *at;
            let i: Vec<usize> = (0..s.len()).filter(|&i| of(&s[i])).collect();
            s.swap(i[0], i[1]);
        })
    };
    let (client_first, server_first) =
        (swapped("server_first_at"), swapped("client_first_at"));
    let mut reached = reach(
        &base,
        verdict,
        AddressInUse,
        &[
            (&[("/idle_restart_errno", in_use())], IdleRestartRefused),
            (&[("/server_time_wait", Value::Null)], NoTimeWait),
            (&[("/restart_errno", Value::Null)], RestartAllowed),
            (&[("/restart_new_only_errno", Value::Null)], NewOnlyAllowed),
            (&[("/restart_both_errno", in_use())], ReuseRefused),
            (&[("/client_time_wait", Value::Null)], ClientCloseBlocks),
            (&[("/open_none_errno", Value::Null)], OpenListenerShared),
            (&[("/fins/seen", client_first)], FirstFinDiffers),
            (&[("/fins/seen", server_first)], FirstFinDiffers),
        ],
    );
    // With --wait-out: the port must be free once TIME_WAIT has ended.
    let mut waited = base.clone();
    waited["time_wait_lasted_ms"] = json!(60_000);
    let verdict = |o| outcome(reuseaddr::verdict(o, true, &quiet()));
    reached.extend(reach(
        &waited,
        verdict,
        AddressInUse,
        &[
            (&[("/after_wait_errno", in_use())], StillInUse),
            (&[("/time_wait_lasted_ms", Value::Null)], StillInUse),
        ],
    ));
    assert_all_reached("reuseaddr", reached);
}

#[test]
fn bind_interface_reaches_every_outcome() {
    use bind_interface::Outcome::*;
    let base = measured("bind-interface", &[]);
    let verdict = |o| outcome(bind_interface::verdict(o, &quiet()));
    let refused_cell = [
        ("/loopback/1/connected", json!(true)),
        ("/loopback/1/errno", Value::Null),
    ];
    let other = "/loopback/3/server_name";
    let answered = segments_with(&base, "/two_hosts/wire/seen", |s| {
        let rst = s.iter_mut().filter(|s| has(s, "RST"));
        rst.for_each(|s| s["flags"] = json!("SYN|ACK"))
    });
    let reached = reach(
        &base,
        verdict,
        BoundOnly,
        &[
            (&refused_cell, LoopbackDiffers),
            (&[(other, json!("127.0.0.1:1060"))], LoopbackDiffers),
            (
                &[
                    ("/two_hosts/ran", json!(true)),
                    ("/two_hosts/cells", json!([])),
                ],
                TwoHostsDiffer,
            ),
            (&[("/two_hosts/wire/seen", answered)], NoResetOnWire),
        ],
    );
    assert_all_reached("bind-interface", reached);
}

#[test]
fn refused_reaches_every_outcome() {
    use refused::Outcome::*;
    let base = measured("refused", &[]);
    let verdict = |o| outcome(refused::verdict(o, &quiet()));
    let no_rst =
        segments_with(&base, "/wire/seen", |s| s.retain(|s| !has(s, "RST")));
    let syn_ack = segments_with(&base, "/wire/seen", |s| {
        let mut answer = s.iter().find(|s| has(s, "RST")).unwrap().clone();
        answer["flags"] = json!("SYN|ACK");
        s.push(answer)
    });
    let reached = reach(
        &base,
        verdict,
        Refused,
        &[
            (&[("/listener_accept_errno", Value::Null)], ListenerTold),
            (&[("/blocking_errno", Value::Null)], Connected),
            (&[("/blocking_errno", errno("EINPROGRESS", 115))], TimedOut),
            (
                &[("/blocking_errno", errno("ENETUNREACH", 101))],
                OtherError,
            ),
            (
                &[
                    ("/so_error", Value::Null),
                    ("/nonblocking_errno", errno("ETIMEDOUT", 110)),
                ],
                OtherError,
            ),
            (&[("/wire/seen", no_rst)], NoResetOnWire),
            (&[("/wire/seen", syn_ack)], HandshakeOnWire),
        ],
    );
    assert_all_reached("refused", reached);
}

#[test]
fn backlog_reaches_every_outcome() {
    use backlog::Outcome::*;
    let base = measured("backlog", &[]);
    let verdict = |o| outcome(backlog::verdict(o, &quiet()));
    let n = base["clients"].as_array().unwrap().len();
    let last = |field: &str| format!("/clients/{}/{field}", n - 1);
    let (after, state) = (last("connected_after_ms"), last("state"));
    let w = "/let_in_wire/seen";
    let syn = |s: &Value| has(s, "SYN") && !has(s, "ACK");
    let one_syn = segments_with(&base, w, |s| {
        let first = s.iter().find(|x| syn(x)).unwrap().clone();
        s.retain(|x| !syn(x) || *x == first);
    });
    let unanswered = segments_with(&base, w, |s| {
        s.retain(|s| !(has(s, "SYN") && has(s, "ACK")))
    });
    let reached = reach(
        &base,
        verdict,
        Ignored,
        &[
            (&[(after.as_str(), json!(0.1))], AllQueued),
            (
                &[("/queue_before_accept/backlog", json!(7))],
                BacklogDiffers,
            ),
            (&[("/connected_at_once", json!(0))], CountDiffers),
            (&[("/queue_before_accept/queued", json!(0))], CountDiffers),
            (&[("/clients/0/error", errno("ECONNREFUSED", 111))], Refused),
            (&[(state.as_str(), json!("CLOSE"))], NotWaiting),
            (&[("/let_in", Value::Null)], NeverLetIn),
            (&[(w, one_syn)], NoSynRetryOnWire),
            (&[(w, unanswered)], NoSynAckOnWire),
        ],
    );
    assert_all_reached("backlog", reached);
}

#[test]
fn deadlock_reaches_every_outcome() {
    use deadlock::Outcome::*;
    let base = measured("deadlock", &[]);
    let verdict = |o: deadlock::Observed| deadlock::verdict(&o, &quiet());
    let w = "/large/wire/seen";
    let (probes, zeros) = (
        format!("{w}/client_probes"),
        format!("{w}/server_zero_windows"),
    );
    let retried = format!("{w}/client_retransmissions_into_zero");
    let mut reached = reach(
        &base,
        verdict,
        Deadlock,
        &[
            (&[("/small/completed", json!(false))], SmallCaseFailed),
            (&[("/large/completed", json!(true))], LargeCaseCompleted),
            (&[("/large/stalled", json!(false))], LargeCaseFailed),
            (&[("/large/client_sent_bytes", json!(1))], LedgerUnbalanced),
            (&[("/fixed/completed", json!(false))], FixFailed),
            (&[(zeros.as_str(), json!(0))], NoZeroWindowOnWire),
            (
                &[(probes.as_str(), json!(0)), (retried.as_str(), json!(0))],
                NoProbesOnWire,
            ),
        ],
    );
    // --fixed runs the fix only.
    let fixed = measured("deadlock", &["--fixed"]);
    reached.extend(reach(
        &fixed,
        verdict,
        Completed,
        &[
            (
                &[
                    ("/fixed/completed", json!(false)),
                    ("/fixed/stalled", json!(true)),
                ],
                Stalled,
            ),
            (&[("/fixed/completed", json!(false))], FixFailed),
        ],
    ));
    assert_all_reached("deadlock", reached);
}

/// Every registry entry expects one of the outcomes its schema lists, for
/// `expected` and for `observed` alike.
#[test]
fn every_expected_outcome_is_in_its_schema() {
    for e in registry::EXPERIMENTS {
        let schema = (e.schema)();
        let outcomes = schema_outcomes(e.name);
        assert!(outcomes.contains(e.expected()), "{}", e.name);
        let defs = "#/$defs/";
        let props = &schema["properties"];
        assert_eq!(props["expected"]["$ref"], format!("{defs}Outcome"));
        let observed = &schema["$defs"]["Observation"]["anyOf"];
        assert_eq!(observed[0]["$ref"], format!("{defs}Outcome"));
        assert_eq!(observed[1]["$ref"], format!("{defs}Failure"));
    }
}
