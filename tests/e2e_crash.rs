//! Crash storms on regtest: `kill -9` of the sending node, and separately of the receiving one,
//! in the middle of a hundred payments, five times each, restarting on the same data.
//!
//! After every restart: each payment the sender saw succeed is in the receiver's history
//! exactly once; the sender's history agrees with what it sent; SubscribeEvents delivers the
//! events of a new payment on both nodes; no event went to the dead-letter table; and after
//! settling nothing the sender sent stays pending, except what the documented ldk-node 0.7.1
//! limitation leaves (see README, "Event pipeline and crash recovery"): a payment whose HTLC a
//! crash left queued, unknown to LDK, stays PENDING in ldk-node's store (GetPaymentDetails)
//! and is recorded as FAILED in the history once no HTLC of it can exist any more. The test
//! prints what it measured: payments per storm, force-closes on restart, and its duration.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::chain::{metric_value, next_event, open_channel, wait_until, Chain, TestNode};
use ldk_server::client::LdkServerClient;
use ldk_server::events::orphans::GRACE as ORPHAN_GRACE;
use ldk_server::proto::api::*;
use ldk_server::proto::events::event_envelope::Event;
use ldk_server::proto::events::EventEnvelope;
use ldk_server::proto::types::{Payment, PaymentDirection, PaymentStatus};

/// Payments started per storm.
const PAYMENTS_PER_STORM: usize = 100;
/// Storms per victim (each ends in one `kill -9` and one restart).
const STORMS_PER_VICTIM: usize = 5;
/// Payments sent at once, as one batch; the next batch waits until they are resolved (a send
/// returns once the HTLC is queued, so unpaced sends would fill the channel's HTLC slots).
const BATCH: usize = 20;
/// How long a batch may take to resolve before the next one is sent anyway.
const BATCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Each payment, msat.
const AMOUNT_MSAT: u64 = 1_000_000;
/// Size of each channel opened, sats.
const CHANNEL_SATS: u64 = 3_000_000;
/// Alice's on-chain funds: enough for the first channel and several reopenings.
const FUNDING_SATS: u64 = 40_000_000;
/// How long a payment may take to settle after a restart before it counts as stuck.
const SETTLE_AFTER_RESTART: Duration = Duration::from_secs(15);
/// How long the set of unsettled payments must stay the same to count as stuck.
const SETTLE_STABLE: Duration = Duration::from_secs(3);
/// What LDK logs when it loads a ChannelManager older than a ChannelMonitor (and force-closes).
const STALE_MANAGER_LOG: &str = "A ChannelManager is stale compared to the current ChannelMonitor";
/// What the server logs when it records a payment from an event's own fields.
const UNKNOWN_PAYMENT_LOG: &str = "ldk-node's payment store does not know this payment";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Victim {
    Sender,
    Receiver,
}

/// One payment to make: an invoice of the receiver, or a keysend to it.
#[derive(Debug, Clone)]
enum Job {
    Invoice(String),
    Keysend,
}

/// What the sender's API said to a send.
#[derive(Debug)]
enum Sent {
    /// Accepted: the payment id.
    Accepted(String),
    /// Refused by the node (e.g. no route while the peer is down).
    Refused(tonic::Status),
    /// No answer: the sender had been killed. Sent again after the restart.
    Unreachable,
}

/// What one storm measured.
#[derive(Debug, Default)]
struct StormReport {
    sends: usize,
    accepted: usize,
    refused: usize,
    /// Refusals by status code, with the first message of each.
    refusals: HashMap<String, (usize, String)>,
    resent: usize,
    succeeded: usize,
    failed: usize,
    pending_after_settling: usize,
    force_closed: bool,
    /// The restarted node logged that its ChannelManager was older than a ChannelMonitor.
    stale_manager: bool,
    recorded_from_event: usize,
    /// Milliseconds per phase, and in all.
    phases: Vec<(&'static str, u128)>,
}

impl StormReport {
    fn refuse(&mut self, status: &tonic::Status) {
        self.refused += 1;
        let entry = self
            .refusals
            .entry(format!("{:?}", status.code()))
            .or_insert((0, status.message().to_owned()));
        entry.0 += 1;
    }
}

/// Wall time per phase of a storm.
struct Phases {
    started: Instant,
    last: Instant,
    marks: Vec<(&'static str, u128)>,
}

impl Phases {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            started: now,
            last: now,
            marks: Vec::new(),
        }
    }

    fn mark(&mut self, phase: &'static str) {
        self.marks.push((phase, self.last.elapsed().as_millis()));
        self.last = Instant::now();
    }

    fn done(mut self) -> Vec<(&'static str, u128)> {
        self.marks
            .push(("total", self.started.elapsed().as_millis()));
        self.marks
    }
}

/// Payment ids in the PaymentSuccessful and PaymentFailed events a node streamed.
#[derive(Debug, Default)]
struct SeenEvents {
    successful: HashSet<String>,
    failed: HashSet<String>,
}

impl SeenEvents {
    fn resolved(&self, id: &str) -> bool {
        self.successful.contains(id) || self.failed.contains(id)
    }
}

/// The two nodes, the chain, and what happened so far.
struct Storms {
    chain: Chain,
    alice: Option<TestNode>,
    bob: Option<TestNode>,
    channels_opened: usize,
    /// The channel the payments use now.
    channel_id: String,
    /// Sender payments still pending in ldk-node's store after settling, over all storms.
    unsettled: HashSet<String>,
    /// What the sender's event streams reported.
    seen: Arc<Mutex<SeenEvents>>,
}

#[tokio::test(flavor = "multi_thread")]
async fn crash_storms_lose_no_payment_and_never_wedge_events() {
    let Some(chain) = Chain::start("crash_storms_lose_no_payment_and_never_wedge_events") else {
        return;
    };
    let started = Instant::now();
    let (alice, bob) = tokio::join!(
        TestNode::start(&chain, "alice", ""),
        TestNode::start(&chain, "bob", "")
    );
    alice.fund(&chain, FUNDING_SATS).await;
    let user_channel_id = open_channel(&chain, &alice, &bob, CHANNEL_SATS, 0, false).await;
    let channel_id = alice
        .channels()
        .await
        .into_iter()
        .find(|c| c.user_channel_id == user_channel_id)
        .expect("the channel")
        .channel_id;
    // Bob learns Alice's address, so that a restarted Bob reconnects at once (ldk-node only
    // retries known peers every 60 s, and an unannounced channel's opener is not known).
    bob.rpc()
        .connect_peer(ConnectPeerRequest {
            node_pubkey: alice.node_id.clone(),
            address: alice.p2p_address.clone(),
            persist: true,
        })
        .await
        .expect("bob persists alice as a peer");
    let mut storms = Storms {
        chain,
        alice: Some(alice),
        bob: Some(bob),
        channels_opened: 1,
        channel_id,
        unsettled: HashSet::new(),
        seen: Arc::default(),
    };
    println!("setup took {:?}", started.elapsed());

    let mut reports = Vec::new();
    for victim in [Victim::Sender, Victim::Receiver] {
        for round in 0..STORMS_PER_VICTIM {
            let report = storms.storm(victim, round).await;
            println!("storm {victim:?} #{round}: {report:?}");
            reports.push((victim, report));
        }
    }
    let (resolved_later, held_on_chain, orphans) = storms.settle_what_is_left().await;

    let restarts = reports.len();
    let force_closes = reports.iter().filter(|(_, r)| r.force_closed).count();
    let stale = reports.iter().filter(|(_, r)| r.stale_manager).count();
    println!("\n=== crash storms ===");
    for victim in [Victim::Sender, Victim::Receiver] {
        let of_victim = || reports.iter().filter(|(v, _)| *v == victim).map(|(_, r)| r);
        let sum = |field: fn(&StormReport) -> usize| of_victim().map(field).sum::<usize>();
        println!(
            "{victim:?} killed {} times: {} sends, {} accepted, {} refused, {} resent after \
             restart, {} succeeded, {} failed, {} pending after settling, {} recorded from the \
             event (unknown to ldk-node)",
            of_victim().count(),
            sum(|r| r.sends),
            sum(|r| r.accepted),
            sum(|r| r.refused),
            sum(|r| r.resent),
            sum(|r| r.succeeded),
            sum(|r| r.failed),
            sum(|r| r.pending_after_settling),
            sum(|r| r.recorded_from_event),
        );
    }
    for victim in [Victim::Sender, Victim::Receiver] {
        let of_victim: Vec<&StormReport> = reports
            .iter()
            .filter(|(v, _)| *v == victim)
            .map(|(_, r)| r)
            .collect();
        println!(
            "{victim:?} restarts: {} of {} closed the channel",
            of_victim.iter().filter(|r| r.force_closed).count(),
            of_victim.len()
        );
    }
    println!(
        "force-close rate: {force_closes} of {restarts} restarts closed the channel; {stale} \
         restarted nodes logged a stale ChannelManager; {} channels opened in all",
        storms.channels_opened
    );
    println!(
        "pending after settling: {resolved_later} resolved by LDK since, {held_on_chain} held by \
         closed channels' monitors (resolved on-chain, at expiry at the latest), {orphans} \
         orphans (failed in the history); test took {:?}",
        started.elapsed()
    );
}

impl Storms {
    fn alice(&self) -> &TestNode {
        self.alice.as_ref().expect("alice runs")
    }

    fn bob(&self) -> &TestNode {
        self.bob.as_ref().expect("bob runs")
    }

    /// A hundred payments, `kill -9` of `victim` in the middle, a restart, and the checks.
    async fn storm(&mut self, victim: Victim, round: usize) -> StormReport {
        let mut report = StormReport::default();
        let mut phases = Phases::new();
        // Payments of earlier storms, in the history or still pending, are not this storm's.
        let mut before: HashSet<String> = payments_by_id(self.alice()).await.into_keys().collect();
        before.extend(self.unsettled.iter().cloned());
        let logged_before = [self.alice(), self.bob()].map(recorded_from_event);
        let jobs = self.jobs(round).await;
        let collector = self.collect_events(self.alice().events().await);
        phases.mark("prepare");

        // Kill somewhere between a third and three fifths of the way through.
        let kill_after = 35 + 6 * round;
        let outcomes = self.send_and_kill(&jobs, victim, kill_after).await;
        collector.abort();
        phases.mark("send and kill");
        self.restart(victim).await;
        phases.mark("restart");
        let restarted_at = Instant::now();
        let collector = self.collect_events(self.alice().events().await);
        report.force_closed = self.wait_for_channel().await;
        let victim_node = match victim {
            Victim::Sender => self.alice(),
            Victim::Receiver => self.bob(),
        };
        report.stale_manager = victim_node.server.log().contains(STALE_MANAGER_LOG);
        phases.mark("channel back");
        if report.force_closed {
            self.reopen_channel().await;
            phases.mark("reopen");
        }

        let unreachable: Vec<Job> = jobs
            .iter()
            .zip(&outcomes)
            .filter(|(_, sent)| matches!(sent, Sent::Unreachable))
            .map(|(job, _)| job.clone())
            .collect();
        report.resent = unreachable.len();
        let mut resent = self.send_paced(&unreachable).await.into_iter();
        let mut accepted = Vec::new();
        for sent in outcomes {
            let sent = match sent {
                Sent::Unreachable => resent.next().expect("resent"),
                other => other,
            };
            match sent {
                Sent::Accepted(id) => accepted.push(id),
                Sent::Refused(status) => report.refuse(&status),
                Sent::Unreachable => panic!("the restarted sender does not answer"),
            }
        }
        report.sends = jobs.len() + report.resent;
        report.accepted = accepted.len();
        phases.mark("resend");

        // The storm's payments: what the sender accepted and whatever its history gained (a
        // send whose answer the kill swallowed).
        let mut storm_ids: HashSet<String> = accepted.iter().cloned().collect();
        storm_ids.extend(self.new_outbound(&before).await);
        let pending = self.settle(&storm_ids, restarted_at).await;
        report.pending_after_settling = pending.len();
        self.unsettled.extend(pending);
        storm_ids.extend(self.new_outbound(&before).await);
        phases.mark("settle");

        let (succeeded, failed) = self.check_histories(&storm_ids).await;
        report.succeeded = succeeded;
        report.failed = failed;
        phases.mark("check histories");
        self.check_events_flow().await;
        self.check_no_dead_letters().await;
        collector.abort();
        phases.mark("check events");
        let restarted = [victim == Victim::Sender, victim == Victim::Receiver];
        report.recorded_from_event = [self.alice(), self.bob()]
            .iter()
            .zip(logged_before.iter().zip(restarted))
            .map(|(node, (before, fresh_log))| {
                recorded_from_event(node) - if fresh_log { 0 } else { *before }
            })
            .sum();
        report.phases = phases.done();
        report
    }

    /// The outbound payments in Alice's history that are not in `before`.
    async fn new_outbound(&self, before: &HashSet<String>) -> Vec<String> {
        payments_by_id(self.alice())
            .await
            .into_iter()
            .filter(|(id, p)| !before.contains(id) && is_outbound(p))
            .map(|(id, _)| id)
            .collect()
    }

    /// Half invoices of the receiver, half keysends.
    async fn jobs(&self, round: usize) -> Vec<Job> {
        let bob = self.bob();
        let invoices = futures_util::future::join_all((0..PAYMENTS_PER_STORM / 2).map(|i| {
            let text = format!("storm {round} payment {i}");
            async move { bob.receive_invoice(Some(AMOUNT_MSAT), &text).await }
        }))
        .await;
        invoices
            .into_iter()
            .flat_map(|invoice| [Job::Invoice(invoice.invoice), Job::Keysend])
            .collect()
    }

    /// Reads the PaymentSuccessful and PaymentFailed events of `stream` into `seen` until it
    /// ends.
    fn collect_events(
        &self,
        mut stream: tonic::Streaming<EventEnvelope>,
    ) -> tokio::task::JoinHandle<()> {
        let seen = Arc::clone(&self.seen);
        tokio::spawn(async move {
            while let Ok(Some(envelope)) = stream.message().await {
                match envelope.event {
                    Some(Event::PaymentSuccessful(event)) => {
                        if let Some(payment) = event.payment {
                            seen.lock().unwrap().successful.insert(payment.id);
                        }
                    }
                    Some(Event::PaymentFailed(event)) => {
                        if let Some(payment) = event.payment {
                            seen.lock().unwrap().failed.insert(payment.id);
                        }
                    }
                    _ => {}
                }
            }
        })
    }

    /// Sends `jobs` from Alice in batches of `BATCH`, and SIGKILLs `victim` as soon as
    /// `kill_after` answers have come back, while the last batch's HTLCs are in flight.
    async fn send_and_kill(&self, jobs: &[Job], victim: Victim, kill_after: usize) -> Vec<Sent> {
        let pid = match victim {
            Victim::Sender => self.alice().server.pid(),
            Victim::Receiver => self.bob().server.pid(),
        };
        let mut outcomes = Vec::new();
        let mut killed = false;
        for batch in jobs.chunks(BATCH) {
            let answers = self.send_batch(batch).await;
            let accepted = accepted_ids(&answers);
            outcomes.extend(answers.into_iter().map(|sent| match sent {
                Sent::Refused(_) if killed && victim == Victim::Sender => Sent::Unreachable,
                other => other,
            }));
            if !killed && outcomes.len() >= kill_after {
                // SAFETY: `kill` only sends a signal, to the server child this test spawned (it
                // is not reaped yet, so the pid cannot have been reused).
                let result = unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                assert_eq!(result, 0, "kill -9 {pid}");
                killed = true;
            }
            // Once the victim is down, nothing resolves until its restart.
            if !killed {
                self.wait_resolved(&accepted, BATCH_TIMEOUT).await;
            }
        }
        outcomes
    }

    /// Sends `jobs` from Alice in batches of `BATCH`, each after the previous one resolved.
    async fn send_paced(&self, jobs: &[Job]) -> Vec<Sent> {
        let mut outcomes = Vec::new();
        for batch in jobs.chunks(BATCH) {
            let answers = self.send_batch(batch).await;
            self.wait_resolved(&accepted_ids(&answers), BATCH_TIMEOUT)
                .await;
            outcomes.extend(answers);
        }
        outcomes
    }

    /// Sends `batch` from Alice at once.
    async fn send_batch(&self, batch: &[Job]) -> Vec<Sent> {
        let receiver = &self.bob().node_id;
        futures_util::future::join_all(batch.iter().map(|job| {
            let mut client = self.alice().rpc();
            async move { send(&mut client, job, receiver).await }
        }))
        .await
    }

    /// Waits until Alice's events resolved every payment of `ids`, or `timeout`.
    async fn wait_resolved(&self, ids: &[String], timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if ids.iter().all(|id| self.seen.lock().unwrap().resolved(id)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the killed node again on its data.
    async fn restart(&mut self, victim: Victim) {
        let slot = match victim {
            Victim::Sender => &mut self.alice,
            Victim::Receiver => &mut self.bob,
        };
        let node = slot.take().expect("node");
        *slot = Some(node.restart(&self.chain).await);
    }

    /// Waits until the current channel is usable on both sides again (`false`) or gone on
    /// either side (`true`: ldk-node force-closed it on restart).
    async fn wait_for_channel(&self) -> bool {
        let (alice, bob) = (self.alice(), self.bob());
        wait_until(
            "channel usable again, or closed",
            Duration::from_secs(60),
            || async {
                let state = |channels: Vec<ldk_server::proto::types::Channel>| {
                    channels
                        .into_iter()
                        .find(|c| c.channel_id == self.channel_id)
                        .map(|c| c.is_usable)
                };
                match (state(alice.channels().await), state(bob.channels().await)) {
                    (None, _) | (_, None) => Some(true),
                    (Some(true), Some(true)) => Some(false),
                    _ => None,
                }
            },
        )
        .await
    }

    /// After a force-close: confirms the closing transactions and opens a new channel. An
    /// attempt whose funding transaction does not reach the mempool is reported and retried
    /// after another block; the storms stop (the test fails) after three.
    async fn reopen_channel(&mut self) {
        for attempt in 1..=3 {
            self.chain.mine(if attempt == 1 { 6 } else { 1 });
            let height = self.chain.height();
            self.alice().wait_for_height(height).await;
            self.bob().wait_for_height(height).await;
            let spendable = self.alice().balances().await.spendable_onchain_balance_sats;
            assert!(
                spendable > CHANNEL_SATS + 100_000,
                "stopping the storms: Alice has {spendable} sats left after {} channels, not \
                 enough for another one",
                self.channels_opened
            );
            match self.try_open_channel().await {
                Ok(channel_id) => {
                    self.channel_id = channel_id;
                    self.channels_opened += 1;
                    return;
                }
                Err(why) => println!("reopening the channel, attempt {attempt}: {why}"),
            }
        }
        panic!(
            "stopping the storms: no new channel after 3 attempts; Alice's log:\n{}",
            self.alice().server.log()
        );
    }

    /// Opens a channel from Alice to Bob and waits until both can use it; returns its id.
    async fn try_open_channel(&self) -> Result<String, String> {
        use open_channel_request::Amount;
        let (alice, bob) = (self.alice(), self.bob());
        let opened = alice
            .rpc()
            .open_channel(OpenChannelRequest {
                node_pubkey: bob.node_id.clone(),
                address: bob.p2p_address.clone(),
                amount: Some(Amount::ChannelAmountSats(CHANNEL_SATS)),
                push_to_counterparty_msat: None,
                channel_config: None,
                announce_channel: false,
                disable_counterparty_reserve: false,
            })
            .await
            .map_err(|status| format!("OpenChannel: {status:?}"))?
            .into_inner();
        let deadline = Instant::now() + Duration::from_secs(60);
        let (channel_id, txid) = loop {
            let funded = alice.channels().await.into_iter().find_map(|c| {
                let txid = c.funding_txo.as_ref()?.txid.clone();
                (c.user_channel_id == opened.user_channel_id).then_some((c.channel_id, txid))
            });
            match funded {
                Some((channel_id, txid)) if self.chain.in_mempool(&txid) => {
                    break (channel_id, txid)
                }
                _ if Instant::now() > deadline => {
                    return Err(format!("funding transaction {funded:?} not in the mempool"));
                }
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        };
        self.chain.mine(6);
        let height = self.chain.height();
        alice.wait_for_height(height).await;
        bob.wait_for_height(height).await;
        wait_until(
            &format!("channel {channel_id} (funding {txid}) usable on both sides"),
            Duration::from_secs(60),
            || async {
                let usable = |channels: Vec<ldk_server::proto::types::Channel>| {
                    channels
                        .iter()
                        .any(|c| c.channel_id == channel_id && c.is_usable)
                };
                (usable(alice.channels().await) && usable(bob.channels().await)).then_some(())
            },
        )
        .await;
        Ok(channel_id)
    }

    /// Waits until none of `ids` is pending in the sender's ldk-node store, or until the set of
    /// pending ones has stopped changing well after the restart; returns those still pending.
    async fn settle(&self, ids: &HashSet<String>, restarted_at: Instant) -> HashSet<String> {
        let mut last = HashSet::new();
        let mut stable_since = Instant::now();
        loop {
            let pending = self.pending_in_ldk_node(ids).await;
            let on_chain = self.held_by_closed_channels().await;
            if pending.iter().all(|id| on_chain.contains(id)) {
                return pending;
            }
            if pending != last {
                last = pending.clone();
                stable_since = Instant::now();
            }
            let long_after_restart = restarted_at.elapsed() >= SETTLE_AFTER_RESTART;
            if (long_after_restart && stable_since.elapsed() >= SETTLE_STABLE)
                || restarted_at.elapsed() > Duration::from_secs(90)
            {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// Payment hashes of the HTLCs that Alice's monitors of closed channels hold: those resolve
    /// on-chain, at their expiry at the latest.
    async fn held_by_closed_channels(&self) -> HashSet<String> {
        let open: HashSet<String> = self
            .alice()
            .channels()
            .await
            .into_iter()
            .map(|c| c.channel_id)
            .collect();
        htlcs_held_by_monitors(self.alice())
            .await
            .into_iter()
            .filter(|(channel, _)| !open.contains(channel))
            .map(|(_, hash)| hash)
            .collect()
    }

    /// Those of `ids` that GetPaymentDetails reports as pending on the sender.
    async fn pending_in_ldk_node(&self, ids: &HashSet<String>) -> HashSet<String> {
        let mut pending = HashSet::new();
        for id in ids {
            let details = payment_details(&mut self.alice().rpc(), id).await;
            if details.is_some_and(|p| p.status() == PaymentStatus::Pending) {
                pending.insert(id.clone());
            }
        }
        pending
    }

    /// The storm's outcome in both histories; returns (succeeded, failed) on the sender.
    ///
    /// Every payment the sender saw succeed (event, GetPaymentDetails or history) is in the
    /// receiver's history exactly once, succeeded. The sender's history holds every resolved
    /// payment in the status ldk-node reports (or, for a payment ldk-node's store does not know,
    /// the one its events recorded); a payment still pending has had no event and may be absent.
    async fn check_histories(&self, ids: &HashSet<String>) -> (usize, usize) {
        let alice = self.alice();
        let history = wait_until(
            "the sender's history agrees with ldk-node",
            Duration::from_secs(30),
            || async {
                let history = payments_by_id(alice).await;
                let mut agrees = true;
                for id in ids {
                    let live = payment_details(&mut alice.rpc(), id).await;
                    agrees &= match (live, history.get(id)) {
                        // An orphan of a crash: failed in the history only.
                        (Some(live), Some(stored)) => {
                            live.status == stored.status
                                || (live.status() == PaymentStatus::Pending
                                    && stored.status() == PaymentStatus::Failed)
                        }
                        // A payment enters the history with its first event.
                        (Some(live), None) => live.status() == PaymentStatus::Pending,
                        // Recorded from an event's own fields.
                        (None, Some(_)) => true,
                        (None, None) => false,
                    };
                }
                agrees.then_some(history)
            },
        )
        .await;
        let seen = self.seen.lock().unwrap().successful.clone();
        let mut succeeded = HashSet::new();
        let mut failed = 0;
        for id in ids {
            let live = payment_details(&mut alice.rpc(), id).await;
            let Some(stored) = history.get(id) else {
                assert!(
                    !seen.contains(id) && !is_resolved(&live),
                    "payment {id} ({live:?}) is not in the sender's history"
                );
                continue;
            };
            assert!(is_outbound(stored), "{stored:?}");
            match stored.status() {
                PaymentStatus::Succeeded => {
                    succeeded.insert(id.clone());
                }
                PaymentStatus::Failed => failed += 1,
                PaymentStatus::Pending => {}
            }
            let live_succeeded = live.is_some_and(|p| p.status() == PaymentStatus::Succeeded);
            if live_succeeded || seen.contains(id) {
                assert_eq!(
                    stored.status(),
                    PaymentStatus::Succeeded,
                    "the sender saw {id} succeed, but its history says {stored:?}"
                );
            }
        }
        let bob = self.bob();
        let received = wait_until(
            "the receiver's history holds every payment the sender saw succeed",
            Duration::from_secs(30),
            || async {
                let received = inbound_occurrences(bob).await;
                succeeded
                    .iter()
                    .all(|id| received.contains_key(id))
                    .then_some(received)
            },
        )
        .await;
        for id in &succeeded {
            let (count, status) = received[id];
            assert_eq!(
                count, 1,
                "payment {id} is in the receiver's history {count} times"
            );
            assert_eq!(
                status,
                PaymentStatus::Succeeded,
                "payment {id} on the receiver"
            );
        }
        (succeeded.len(), failed)
    }

    /// One more keysend after the restart: its events reach both nodes' streams.
    async fn check_events_flow(&self) {
        let (alice, bob) = (self.alice(), self.bob());
        let mut received = bob.events().await;
        let response = alice
            .rpc()
            .spontaneous_send(keysend(&bob.node_id))
            .await
            .expect("keysend after the restart")
            .into_inner();
        let id = response.payment_id;
        next_event(
            &mut received,
            "PaymentReceived on the receiver after the restart",
            Duration::from_secs(60),
            |event| match event {
                Event::PaymentReceived(e) if e.payment.as_ref().is_some_and(|p| p.id == id) => {
                    Some(())
                }
                _ => None,
            },
        )
        .await;
        wait_until(
            "PaymentSuccessful on the sender after the restart",
            Duration::from_secs(60),
            || async {
                self.seen
                    .lock()
                    .unwrap()
                    .successful
                    .contains(&id)
                    .then_some(())
            },
        )
        .await;
    }

    /// Neither node dead-lettered an event: the counter and the table are at zero.
    async fn check_no_dead_letters(&self) {
        for node in [self.alice(), self.bob()] {
            let metrics = node.metrics().await;
            assert_eq!(
                metric_value(&metrics, "ldk_server_events_dead_lettered_total"),
                0.0,
                "{} dead-lettered an event:\n{}",
                node.alias,
                node.server.log()
            );
            assert_eq!(dead_letter_rows(node), 0, "{} has dead letters", node.alias);
        }
    }

    /// After the storms, each sender payment ldk-node's store held as pending after settling has
    /// been resolved by LDK since (the history agrees), or is one of the two documented cases:
    /// its HTLC sits in a closed channel's ChannelMonitor (named by hash in GetBalances; LDK
    /// resolves it on-chain, at its expiry at the latest; the history has no resolution for it
    /// yet), or it is an orphan of a crash (no HTLC anywhere; FAILED in the history only, and
    /// never received). Returns (resolved by LDK since, held on-chain, orphans).
    async fn settle_what_is_left(&self) -> (usize, usize, usize) {
        println!(
            "{} sender payments were pending in ldk-node after settling",
            self.unsettled.len()
        );
        let alice = self.alice();
        // Polled like `wait_until`, but a timeout names each payment still unclassified with
        // what ldk-node and the history say of it.
        let deadline = Instant::now() + ORPHAN_GRACE + Duration::from_secs(60);
        let (held, history, live) = loop {
            let held = self.held_by_closed_channels().await;
            let history = payments_by_id(alice).await;
            let mut live = HashMap::new();
            for id in &self.unsettled {
                let status = payment_details(&mut alice.rpc(), id)
                    .await
                    .map(|p| p.status());
                live.insert(id.clone(), status);
            }
            let unclassified: Vec<_> = self
                .unsettled
                .iter()
                .filter(|id| {
                    let stored = history.get(*id).map(Payment::status);
                    let resolved = live[*id] != Some(PaymentStatus::Pending) && stored == live[*id];
                    !(resolved || held.contains(*id) || stored == Some(PaymentStatus::Failed))
                })
                .map(|id| (id.clone(), live[id], history.get(id).map(Payment::status)))
                .collect();
            if unclassified.is_empty() {
                break (held, history, live);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for: every payment left pending resolved, held by a closed \
                 channel's monitor, or failed as an orphan; still unclassified (id, ldk-node, \
                 history), with {} held by closed channels: {unclassified:?}",
                held.len()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        };
        let received = inbound_occurrences(self.bob()).await;
        let (mut resolved, mut on_chain, mut orphans) = (0, 0, 0);
        for id in &self.unsettled {
            let stored = history.get(id).map(Payment::status);
            if live[id] != Some(PaymentStatus::Pending) {
                resolved += 1;
                assert_eq!(stored, live[id], "{id}, resolved by LDK, in the history");
            } else if held.contains(id) {
                on_chain += 1;
                assert!(
                    matches!(stored, None | Some(PaymentStatus::Pending)),
                    "{id}, held on-chain, is {stored:?} in the history:\n{}",
                    alice.server.log()
                );
            } else {
                orphans += 1;
                assert_eq!(stored, Some(PaymentStatus::Failed), "orphan {id}");
                assert!(
                    received
                        .get(id)
                        .is_none_or(|(_, status)| *status != PaymentStatus::Succeeded),
                    "orphan {id} was received"
                );
            }
        }
        (resolved, on_chain, orphans)
    }
}

/// (channel id, payment hash) of each HTLC `node`'s ChannelMonitors hold, from GetBalances.
async fn htlcs_held_by_monitors(node: &TestNode) -> Vec<(String, String)> {
    use ldk_server::proto::types::lightning_balance::BalanceType;
    node.balances()
        .await
        .lightning_balances
        .into_iter()
        .filter_map(|balance| match balance.balance_type? {
            BalanceType::ContentiousClaimable(b) => Some((b.channel_id, b.payment_hash)),
            BalanceType::MaybeTimeoutClaimableHtlc(b) => Some((b.channel_id, b.payment_hash)),
            BalanceType::MaybePreimageClaimableHtlc(b) => Some((b.channel_id, b.payment_hash)),
            _ => None,
        })
        .collect()
}

/// Sends one job from `client` to `receiver`.
async fn send(client: &mut LdkServerClient, job: &Job, receiver: &str) -> Sent {
    let answer = match job {
        Job::Invoice(invoice) => client
            .bolt11_send(Bolt11SendRequest {
                invoice: invoice.clone(),
                amount_msat: None,
                route_parameters: None,
            })
            .await
            .map(|r| r.into_inner().payment_id),
        Job::Keysend => client
            .spontaneous_send(keysend(receiver))
            .await
            .map(|r| r.into_inner().payment_id),
    };
    match answer {
        Ok(id) => Sent::Accepted(id),
        Err(status) => Sent::Refused(status),
    }
}

fn keysend(receiver: &str) -> SpontaneousSendRequest {
    SpontaneousSendRequest {
        amount_msat: AMOUNT_MSAT,
        node_id: receiver.to_owned(),
        route_parameters: None,
        custom_tlvs: vec![],
        preimage: None,
    }
}

/// The payment ids of the accepted sends.
fn accepted_ids(answers: &[Sent]) -> Vec<String> {
    answers
        .iter()
        .filter_map(|sent| match sent {
            Sent::Accepted(id) => Some(id.clone()),
            _ => None,
        })
        .collect()
}

/// Whether ldk-node's copy of a payment is resolved (succeeded or failed).
fn is_resolved(live: &Option<Payment>) -> bool {
    live.as_ref()
        .is_some_and(|p| p.status() != PaymentStatus::Pending)
}

fn is_outbound(payment: &Payment) -> bool {
    payment.direction() == PaymentDirection::Outbound
}

/// GetPaymentDetails: ldk-node's copy of a payment, if it knows it.
async fn payment_details(client: &mut LdkServerClient, id: &str) -> Option<Payment> {
    client
        .get_payment_details(GetPaymentDetailsRequest {
            payment_id: id.to_owned(),
        })
        .await
        .expect("payment details")
        .into_inner()
        .payment
}

/// Every page of ListPayments, as (id → payment); panics if an id appears twice.
async fn payments_by_id(node: &TestNode) -> HashMap<String, Payment> {
    let mut payments = HashMap::new();
    for payment in node.all_payments().await {
        let id = payment.id.clone();
        assert!(
            payments.insert(id.clone(), payment).is_none(),
            "{id} listed twice by {}",
            node.alias
        );
    }
    payments
}

/// How often each inbound payment appears in `node`'s history, with its (last) status.
async fn inbound_occurrences(node: &TestNode) -> HashMap<String, (usize, PaymentStatus)> {
    let mut seen: HashMap<String, (usize, PaymentStatus)> = HashMap::new();
    for payment in node.all_payments().await {
        if payment.direction() == PaymentDirection::Inbound {
            let entry = seen
                .entry(payment.id.clone())
                .or_insert((0, payment.status()));
            entry.0 += 1;
            entry.1 = payment.status();
        }
    }
    seen
}

/// How many payments `node`'s current process recorded from an event's own fields.
fn recorded_from_event(node: &TestNode) -> usize {
    node.server.log().matches(UNKNOWN_PAYMENT_LOG).count()
}

/// Rows of the dead-letter table in `node`'s history database.
fn dead_letter_rows(node: &TestNode) -> i64 {
    let path = node
        .server
        .storage()
        .join(&node.server.network)
        .join(ldk_server::store::STORE_FILE_NAME);
    let connection =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .expect("open the history read-only");
    connection
        .query_row("SELECT COUNT(*) FROM dead_lettered_events", [], |row| {
            row.get(0)
        })
        .expect("count dead letters")
}

/// The crash states the storms reach only by chance, made exactly: with Alice stopped, her
/// ldk-node store gets an outbound payment marked pending that LDK never heard of (an orphan),
/// and her ldk-node event queue a `PaymentSuccessful` for a payment ldk-node never stored and a
/// payment event without a payment id (which no attempt can process). After the restart: the
/// unknown payment is recorded from the event, the unprocessable event is dead-lettered and
/// acknowledged, later events flow, and the orphan follows the documented behaviour.
#[tokio::test(flavor = "multi_thread")]
async fn replayed_unknown_payments_unprocessable_events_and_orphans() {
    use ldk_node::lightning::ln::channelmanager::PaymentId;
    use ldk_node::lightning::util::ser::Writeable;
    use ldk_node::lightning_types::payment::{PaymentHash, PaymentPreimage, PaymentSecret};
    use ldk_node::payment::{PaymentDetails, PaymentKind};

    let Some(chain) = Chain::start("replayed_unknown_payments_unprocessable_events_and_orphans")
    else {
        return;
    };
    let started = Instant::now();
    let (alice, bob) = tokio::join!(
        TestNode::start(&chain, "alice", ""),
        TestNode::start(&chain, "bob", "")
    );
    alice.fund(&chain, 2 * CHANNEL_SATS).await;
    open_channel(&chain, &alice, &bob, CHANNEL_SATS, 0, false).await;

    // The orphan pays a real invoice of Bob's; the unknown payment is a made-up one.
    let invoice = bob.receive_invoice(Some(AMOUNT_MSAT), "orphan").await;
    let orphan_hash: [u8; 32] = hex::decode(&invoice.payment_hash)
        .unwrap()
        .try_into()
        .unwrap();
    let orphan = PaymentDetails {
        id: PaymentId(orphan_hash),
        kind: PaymentKind::Bolt11 {
            hash: PaymentHash(orphan_hash),
            preimage: None,
            secret: Some(PaymentSecret(
                hex::decode(&invoice.payment_secret)
                    .unwrap()
                    .try_into()
                    .unwrap(),
            )),
        },
        amount_msat: Some(AMOUNT_MSAT),
        fee_paid_msat: None,
        direction: ldk_node::payment::PaymentDirection::Outbound,
        status: ldk_node::payment::PaymentStatus::Pending,
        latest_update_timestamp: 1_700_000_000,
    };
    let unknown = ldk_node::Event::PaymentSuccessful {
        payment_id: Some(PaymentId([0x5a; 32])),
        payment_hash: PaymentHash([0x5a; 32]),
        payment_preimage: Some(PaymentPreimage([0x11; 32])),
        fee_paid_msat: Some(7),
    };
    let unprocessable = ldk_node::Event::PaymentFailed {
        payment_id: None,
        payment_hash: Some(PaymentHash([0x6b; 32])),
        reason: None,
    };

    let mut alice = alice;
    let mut child = alice.server.child.take().expect("alice runs");
    // SAFETY: a signal to the server child this test spawned, not reaped yet.
    assert_eq!(
        unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) },
        0
    );
    assert!(child.wait().expect("alice stops").success());
    let node_store = alice
        .server
        .storage()
        .join(&alice.server.network)
        .join("ldk_node_data.sqlite");
    let connection = rusqlite::Connection::open(&node_store).expect("ldk-node's store");
    let write = |namespace: &str, key: &str, value: Vec<u8>| {
        connection
            .execute(
                "INSERT OR REPLACE INTO ldk_node_data \
                 (primary_namespace, secondary_namespace, key, value) VALUES (?1, '', ?2, ?3)",
                rusqlite::params![namespace, key, value],
            )
            .expect("write ldk-node's store");
    };
    write("payments", &hex::encode(orphan_hash), orphan.encode());
    let queued: Option<Vec<u8>> = connection
        .query_row(
            "SELECT value FROM ldk_node_data WHERE primary_namespace = '' AND key = 'events'",
            [],
            |row| row.get(0),
        )
        .ok();
    assert!(
        queued.as_deref().is_none_or(|q| q == [0, 0]),
        "ldk-node's event queue is not empty after a clean stop: {queued:?}"
    );
    let mut queue = 2u16.encode();
    queue.extend(unknown.encode());
    queue.extend(unprocessable.encode());
    write("", "events", queue);
    drop(connection);
    let alice = alice.restart(&chain).await;

    // The unknown payment is in the history, recorded from the event.
    let unknown_id = "5a".repeat(32);
    let recorded = wait_until(
        "the unknown payment recorded from its event",
        Duration::from_secs(30),
        || async { payments_by_id(&alice).await.remove(&unknown_id) },
    )
    .await;
    assert_eq!(recorded.status(), PaymentStatus::Succeeded);
    assert_eq!(recorded.direction(), PaymentDirection::Outbound);
    assert_eq!(recorded.fee_paid_msat, Some(7));
    assert!(payment_details(&mut alice.rpc(), &unknown_id)
        .await
        .is_none());
    assert!(alice.server.log().contains(UNKNOWN_PAYMENT_LOG));

    // The unprocessable event is dead-lettered after its 5 attempts, and acknowledged.
    wait_until(
        "the unprocessable event dead-lettered",
        Duration::from_secs(30),
        || async {
            let metrics = alice.metrics().await;
            (metric_value(&metrics, "ldk_server_events_dead_lettered_total") == 1.0).then_some(())
        },
    )
    .await;
    assert_eq!(dead_letter_rows(&alice), 1);
    let path = alice
        .server
        .storage()
        .join(&alice.server.network)
        .join(ldk_server::store::STORE_FILE_NAME);
    let history = ldk_server::store::PaymentStore::open(path.parent().unwrap()).unwrap();
    let letter = history.dead_letters(10).unwrap().remove(0).letter;
    assert_eq!(letter.event_kind, "PaymentFailed");
    assert_eq!(letter.attempts, 5);
    assert_eq!(letter.last_error, "payment event without a payment id");
    assert!(letter.event.contains("6b6b6b"), "{}", letter.event);
    assert!(alice
        .server
        .log()
        .contains("could not be processed after every retry"));

    // Later events flow.
    let mut events = alice.events().await;
    let id = alice
        .rpc()
        .spontaneous_send(keysend(&bob.node_id))
        .await
        .expect("keysend after the dead letter")
        .into_inner()
        .payment_id;
    next_event(
        &mut events,
        "PaymentSuccessful after the dead letter",
        Duration::from_secs(60),
        |event| match event {
            Event::PaymentSuccessful(e) if e.payment.as_ref().is_some_and(|p| p.id == id) => {
                Some(())
            }
            _ => None,
        },
    )
    .await;

    // The orphan: pending in ldk-node for good, its invoice refused, failed in the history.
    let orphan_id = hex::encode(orphan_hash);
    let live = payment_details(&mut alice.rpc(), &orphan_id).await;
    assert_eq!(live.map(|p| p.status()), Some(PaymentStatus::Pending));
    assert!(
        !payments_by_id(&alice).await.contains_key(&orphan_id),
        "a payment that never had an event is not in the history yet"
    );
    let again = alice
        .rpc()
        .bolt11_send(Bolt11SendRequest {
            invoice: invoice.invoice.clone(),
            amount_msat: None,
            route_parameters: None,
        })
        .await
        .expect_err("ldk-node refuses to pay the orphan's invoice again");
    println!("paying the orphan's invoice again: {again:?}");
    let failed = wait_until(
        "the orphan failed in the history",
        ORPHAN_GRACE + Duration::from_secs(30),
        || async { payments_by_id(&alice).await.remove(&orphan_id) },
    )
    .await;
    assert_eq!(failed.status(), PaymentStatus::Failed);
    assert_eq!(failed.amount_msat, Some(AMOUNT_MSAT));
    let live = payment_details(&mut alice.rpc(), &orphan_id).await;
    assert_eq!(
        live.map(|p| p.status()),
        Some(PaymentStatus::Pending),
        "ldk-node 0.7.1 keeps the orphan pending"
    );
    assert!(alice
        .server
        .log()
        .contains("outbound payment left pending by a crash"));
    assert!(
        !inbound_occurrences(&bob).await.contains_key(&orphan_id),
        "Bob never saw the orphan"
    );
    println!("took {:?}", started.elapsed());
}
