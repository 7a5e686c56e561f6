//! The profiles' contract (`ProfileStore`), run on every adapter: in memory and on DynamoDB (in
//! process, embedded-dynamodb; profiles live in UsersTable). An adapter that passes behaves as
//! users-api and notify assume; where the two differ, this is where it shows.

mod support;

use chrono::{DateTime, Utc};
use order_adapters::dynamodb::DynamoProfiles;
use order_adapters::memory::MemoryProfiles;
use order_core::ports::{ProfileSaved, ProfileStore};
use order_core::profile::{Channel, Profile};
use support::t0;

pub async fn profiles_contract<S: ProfileStore>(make: impl Fn() -> S) {
    a_user_without_a_profile_has_none(make()).await;
    a_first_save_creates_the_profile_and_it_reads_back_whole(make()).await;
    a_later_save_replaces_the_whole_profile_of_that_user_only(make()).await;
    a_save_at_the_same_time_replaces(make()).await;
    an_older_save_is_superseded_and_changes_nothing(make()).await;
}

#[tokio::test]
async fn in_memory() {
    profiles_contract(MemoryProfiles::default).await;
}

#[tokio::test]
async fn on_dynamodb() {
    profiles_contract(|| DynamoProfiles::new(support::dynamodb(), "UsersTable")).await;
}

const ENDPOINT: &str = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/shop-app/0b7c1f2e-5a4d";

fn at(seconds: i64) -> DateTime<Utc> {
    t0() + chrono::Duration::seconds(seconds)
}

fn profile(user_id: &str, name: &str, updated_at: DateTime<Utc>) -> Profile {
    Profile {
        user_id: user_id.into(),
        name: name.into(),
        email: format!("{user_id}@example.com"),
        phone: "+441234567890".into(),
        channels: vec![Channel::Email, Channel::Sms],
        push_endpoint: None,
        updated_at,
    }
}

async fn a_user_without_a_profile_has_none(store: impl ProfileStore) {
    assert_eq!(store.profile("alice").await.unwrap(), None);
    store
        .save_profile(&profile("bob", "Bob", at(0)))
        .await
        .unwrap();
    assert_eq!(store.profile("alice").await.unwrap(), None);
}

async fn a_first_save_creates_the_profile_and_it_reads_back_whole(store: impl ProfileStore) {
    let alice = Profile {
        channels: vec![Channel::Email, Channel::Sms, Channel::Push],
        push_endpoint: Some(ENDPOINT.into()),
        ..profile("alice", "Ada Lovelace", at(0))
    };
    assert_eq!(
        store.save_profile(&alice).await.unwrap(),
        ProfileSaved::Created
    );
    assert_eq!(store.profile("alice").await.unwrap(), Some(alice));
}

async fn a_later_save_replaces_the_whole_profile_of_that_user_only(store: impl ProfileStore) {
    let first = Profile {
        push_endpoint: Some(ENDPOINT.into()),
        ..profile("alice", "Ada", at(0))
    };
    let bob = profile("bob", "Bob", at(0));
    store.save_profile(&first).await.unwrap();
    store.save_profile(&bob).await.unwrap();
    let second = Profile {
        email: "ada@example.org".into(),
        phone: "+4915112345678".into(),
        channels: vec![Channel::Sms],
        ..profile("alice", "Ada Lovelace", at(60))
    };
    assert_eq!(
        store.save_profile(&second).await.unwrap(),
        ProfileSaved::Updated
    );
    let read = store.profile("alice").await.unwrap();
    assert_eq!(read, Some(second), "no field of the first save survives");
    assert_eq!(store.profile("bob").await.unwrap(), Some(bob));
}

async fn a_save_at_the_same_time_replaces(store: impl ProfileStore) {
    store
        .save_profile(&profile("alice", "Ada", at(60)))
        .await
        .unwrap();
    let same_time = profile("alice", "Ada Lovelace", at(60));
    assert_eq!(
        store.save_profile(&same_time).await.unwrap(),
        ProfileSaved::Updated,
        "only a later profile stored keeps a save out"
    );
    assert_eq!(store.profile("alice").await.unwrap(), Some(same_time));
}

async fn an_older_save_is_superseded_and_changes_nothing(store: impl ProfileStore) {
    let newer = profile("alice", "Ada Lovelace", at(60));
    store.save_profile(&newer).await.unwrap();
    let late_retry = Profile {
        push_endpoint: Some(ENDPOINT.into()),
        ..profile("alice", "Ada", at(59))
    };
    assert_eq!(
        store.save_profile(&late_retry).await.unwrap(),
        ProfileSaved::Superseded
    );
    assert_eq!(store.profile("alice").await.unwrap(), Some(newer));
    let by_a_millisecond = profile("alice", "Ada", at(60) - chrono::Duration::milliseconds(1));
    assert_eq!(
        store.save_profile(&by_a_millisecond).await.unwrap(),
        ProfileSaved::Superseded
    );
}
