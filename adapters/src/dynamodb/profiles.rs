use super::wire::{classify, get, is_condition_failure, key, s, to_item};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use chrono::{DateTime, Utc};
use order_core::clock::format_time;
use order_core::error::StoreError;
use order_core::ports::{ProfileSaved, ProfileStore};
use order_core::profile::{Channel, Profile};
use serde::{Deserialize, Serialize};

/// User profiles, in the users table.
#[derive(Debug, Clone)]
pub struct DynamoProfiles {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProfileItem {
    pk: String,
    sk: String,
    user_id: String,
    name: String,
    email: String,
    phone: String,
    channels: Vec<Channel>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    push_endpoint: Option<String>,
    /// Always `format_time`'s fixed-width form, so that the save condition can compare it
    /// as a string.
    updated_at: String,
}

fn profile_key(user_id: &str) -> super::wire::Item {
    key(format!("USER#{user_id}"), "PROFILE")
}

impl DynamoProfiles {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl ProfileStore for DynamoProfiles {
    async fn profile(&self, user_id: &str) -> Result<Option<Profile>, StoreError> {
        let item: Option<ProfileItem> =
            get(&self.client, &self.table, profile_key(user_id)).await?;
        item.map(|p| {
            let updated_at = DateTime::parse_from_rfc3339(&p.updated_at)
                .map_err(|e| StoreError::Internal(format!("profile of {user_id}: {e}")))?
                .with_timezone(&Utc);
            Ok(Profile {
                user_id: p.user_id,
                name: p.name,
                email: p.email,
                phone: p.phone,
                channels: p.channels,
                push_endpoint: p.push_endpoint,
                updated_at,
            })
        })
        .transpose()
    }

    async fn save_profile(&self, profile: &Profile) -> Result<ProfileSaved, StoreError> {
        let updated_at = format_time(profile.updated_at);
        let item = to_item(&ProfileItem {
            pk: format!("USER#{}", profile.user_id),
            sk: "PROFILE".into(),
            user_id: profile.user_id.clone(),
            name: profile.name.clone(),
            email: profile.email.clone(),
            phone: profile.phone.clone(),
            channels: profile.channels.clone(),
            push_endpoint: profile.push_endpoint.clone(),
            updated_at: updated_at.clone(),
        })?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR updatedAt <= :now")
            .expression_attribute_values(":now", s(updated_at))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        match result {
            Ok(output) if output.attributes.as_ref().is_some_and(|a| !a.is_empty()) => {
                Ok(ProfileSaved::Updated)
            }
            Ok(_) => Ok(ProfileSaved::Created),
            Err(e) if is_condition_failure(&e) => Ok(ProfileSaved::Superseded),
            Err(e) => Err(classify(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dynamodb::from_item;

    #[test]
    fn items_decode() {
        let item = to_item(&ProfileItem {
            pk: "USER#a".into(),
            sk: "PROFILE".into(),
            user_id: "a".into(),
            name: "A".into(),
            email: "a@b.co".into(),
            phone: "+12345678".into(),
            channels: vec![Channel::Email, Channel::Push],
            push_endpoint: None,
            updated_at: "2026-11-22T10:00:00.000Z".into(),
        })
        .unwrap();
        assert_eq!(item["channels"].as_l().unwrap().len(), 2);
        // No attribute for an absent endpoint: items written before it existed read the same.
        assert!(!item.contains_key("pushEndpoint"));
        let back: ProfileItem = from_item(item).unwrap();
        assert_eq!(back.channels, vec![Channel::Email, Channel::Push]);
        assert_eq!(back.push_endpoint, None);
    }
}
