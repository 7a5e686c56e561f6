//! A fixed-seed batch of the simulator's schedules (`make sim` runs many more): ten orders at
//! once on shared stock and accounts, faults drawn into the calls (late commits, lost replies,
//! crashes, throttles), customers cancelling between any two states; every property holds.

use sim::asl::Definition;
use sim::choices::{Choice, Kind};
use sim::cloud;
use sim::schedule::{self, Shape};
use std::collections::BTreeSet;

#[tokio::test]
async fn twelve_schedules_from_seed_one_break_no_property() {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &cloud::substitutions()).unwrap();
    let mut faults = 0;
    for seed in 1..=12 {
        let shape = Shape::mixed(seed);
        let report = schedule::run(&definition, &shape, seed).await.unwrap();
        assert!(
            report.violations.is_empty(),
            "seed {seed} (replay: make sim SEED={seed} SCHEDULES=1):\n  {}",
            report.violations.join("\n  ")
        );
        assert_eq!(report.statuses.values().sum::<usize>(), report.placed.len());
        assert!(report.placed.len() >= shape.orders);
        faults += report.faults;
    }
    assert!(faults > 0, "the batch met no fault");
}

/// One seed is one run: the same seed twice gives the same report.
#[tokio::test]
async fn a_seed_replays_exactly() {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &cloud::substitutions()).unwrap();
    let shape = Shape::default();
    let first = schedule::run(&definition, &shape, 7).await.unwrap();
    let again = schedule::run(&definition, &shape, 7).await.unwrap();
    assert_eq!(
        (first.states, first.faults, first.cancels, first.executions),
        (again.states, again.faults, again.cancels, again.executions)
    );
    assert_eq!(first.statuses, again.statuses);
    // The same ids (seeded) and the same executions through the same states.
    let ids = |r: &schedule::Report| r.placed.iter().map(|p| p.order_id).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again));
    let runs = |r: &schedule::Report| {
        r.ended
            .iter()
            .map(|e| (e.name.clone(), e.states.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(runs(&first), runs(&again));
    // The same DynamoDB calls, and the times the benchmark reads add up: the engine answered
    // the SDK's calls within the time those calls took end to end.
    let calls = |r: &schedule::Report| {
        r.engine
            .iter()
            .map(|(operation, t)| (operation.clone(), t.calls))
            .collect::<Vec<_>>()
    };
    assert_eq!(calls(&first), calls(&again));
    let total: u64 = first.engine.values().map(|t| t.calls).sum();
    assert!(first.sdk_calls > 0 && first.sdk_calls < total);
    assert!(first.sdk_engine_time > std::time::Duration::ZERO);
    assert!(first.sdk_engine_time < first.sdk_time);
}

/// The choices a run reports replay it exactly (`--keep`, what the shrinker prints), and
/// leaving choices out takes away just those: only the orders kept, no fault, cancel, API call
/// or conflict happens, and every order still ends.
#[tokio::test]
async fn kept_choices_replay_a_schedule_and_the_rest_do_not_happen() {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &cloud::substitutions()).unwrap();
    let shape = Shape::mixed(3);
    let first = schedule::run(&definition, &shape, 3).await.unwrap();
    let kinds: BTreeSet<Kind> = first.choices.iter().map(|c| c.kind).collect();
    assert!(
        [Kind::Order, Kind::Fault, Kind::Api, Kind::Conflict]
            .iter()
            .all(|k| kinds.contains(k)),
        "{kinds:?}"
    );
    let keep = |choices: BTreeSet<Choice>| Shape {
        keep: Some(choices),
        ..shape.clone()
    };
    let again = schedule::run(
        &definition,
        &keep(first.choices.iter().copied().collect()),
        3,
    )
    .await
    .unwrap();
    assert_eq!(again.choices, first.choices);
    assert_eq!(
        (again.states, again.faults, again.cancels, again.api_calls),
        (first.states, first.faults, first.cancels, first.api_calls)
    );
    assert_eq!(again.statuses, first.statuses);

    let orders: BTreeSet<Choice> = first
        .choices
        .iter()
        .filter(|c| c.kind == Kind::Order && c.index % 2 == 0)
        .copied()
        .collect();
    let fewer = schedule::run(&definition, &keep(orders.clone()), 3)
        .await
        .unwrap();
    assert!(fewer.violations.is_empty(), "{:?}", fewer.violations);
    assert_eq!(fewer.choices, orders.into_iter().collect::<Vec<_>>());
    assert_eq!((fewer.faults, fewer.cancels, fewer.api_calls), (0, 0, 0));
    assert_eq!(fewer.placed.len(), 5);
    assert_eq!(fewer.statuses.values().sum::<usize>(), 5);
}

/// Found by `make sim` (seed 126, EXPRESS with duplicate starts): a second execution of a
/// completed order met a forward failure, and its read of the order (`ReadOrderBeforePayment`)
/// failed too, after its retries; the definition then compensated, refunding and releasing a
/// completed order (its `CancelOrder` was refused, so the order stayed `COMPLETED`).
#[tokio::test]
async fn seed_126_a_failed_read_of_the_order_does_not_compensate_a_completed_one() {
    breaks_nothing(126).await;
}

/// Found by `make sim` (seed 466, EXPRESS with duplicate starts): two executions of one order,
/// one still before its payment mark, the other giving up on a failed charge; the second read
/// the order `RESERVED`, compensated (refund, release), and meanwhile the first marked it paid
/// and completed it, so the order ended `COMPLETED` with its payment refunded and its stock
/// released. The definition now claims the order (`cancelRequestedAt`) before compensating.
#[tokio::test]
async fn seed_466_a_compensation_claims_the_order_before_another_execution_completes_it() {
    breaks_nothing(466).await;
}

/// Found by `make sim` (seed 470, EXPRESS with duplicate starts and API calls between the
/// states): one execution of an order met OutOfStock, then stock came back (a release, an
/// admin's restock), a second execution of the same order reserved and completed it, and the
/// first released the completed order's reservation. An OutOfStock (or PaymentDeclined) only
/// proves that no execution had got past that step when it was answered, not afterwards.
#[tokio::test]
async fn seed_470_an_out_of_stock_execution_does_not_release_what_a_sibling_reserved_later() {
    breaks_nothing_in(Shape::mixed(470).without_outages(), 470).await;
}

/// Found by `make sim` (seed 18, EXPRESS): executions stopped at their five minutes between the
/// order's final status write (CompleteOrder, CancelOrder) and its announcement. The orders
/// settled, no event went out and nothing was dead-lettered, so their buyers were never told.
#[tokio::test]
async fn seed_18_an_order_settled_by_a_stopped_execution_is_still_announced() {
    breaks_nothing_in(Shape::mixed(18).without_outages(), 18).await;
}

/// Found by `make sim` (seed 30, EXPRESS, with compensations that give up): a `-cancel`
/// execution's refund gave up, the order was marked `COMPENSATION_FAILED`, and the execution
/// stopped at its five minutes before sending the dead letter. Nothing told the operator, and
/// the cleanup leaves `COMPENSATION_FAILED` orders to them: the order kept its money and stock.
#[tokio::test]
async fn seed_30_a_compensation_that_gave_up_always_reaches_the_operator() {
    breaks_nothing_in(Shape::mixed(30), 30).await;
}

/// The schedule of `seed`, in the shape `make sim` gave it when it was found (before the API
/// calls, cleanup runs and compensation outages were drawn), breaks no property.
async fn breaks_nothing(seed: u64) {
    let shape = Shape::mixed(seed).without_operators().without_outages();
    breaks_nothing_in(shape, seed).await;
}

/// The schedule of `seed` in `shape` breaks no property.
async fn breaks_nothing_in(shape: Shape, seed: u64) {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &cloud::substitutions()).unwrap();
    let report = schedule::run(&definition, &shape, seed).await.unwrap();
    assert!(
        report.violations.is_empty(),
        "seed {seed}:\n  {}",
        report.violations.join("\n  ")
    );
}

/// With an admin busy changing prices and stock (the API called every other virtual second), the product
/// queue carries every change to the order side's view, out of order and some twice, and the
/// view ends at each product's price in the inventory (`products::check`, a property).
#[tokio::test]
async fn the_product_view_follows_every_price_change_through_the_queue() {
    let text = include_str!("../../statemachines/order-saga.asl.json");
    let definition = Definition::load(text, &cloud::substitutions()).unwrap();
    let shape = Shape {
        api_rate: 0.5,
        ..Shape::default()
    };
    let report = schedule::run(&definition, &shape, 7).await.unwrap();
    assert!(report.product_receives > 10, "{}", report.product_receives);
    assert!(
        report.violations.is_empty(),
        "seed 7:\n  {}",
        report.violations.join("\n  ")
    );
}
