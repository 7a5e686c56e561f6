//! A customer's profile: who they are, how to reach them, and on which channels they want to
//! hear from us. One per user, keyed by the JWT `sub`, replaced whole by each `PUT /users/me`.

use crate::values::FieldError;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const MAX_NAME_CHARS: usize = 100;
/// RFC 5321's limits: a path of 254 octets, a local part of 64.
const MAX_EMAIL_LEN: usize = 254;
const MAX_EMAIL_LOCAL_LEN: usize = 64;
/// E.164: a country code and subscriber number of at most 15 digits; 8 rules out typos.
const PHONE_DIGITS: std::ops::RangeInclusive<usize> = 8..=15;
/// SNS's limit on an ARN we accept here; endpoint ARNs are far shorter.
const MAX_PUSH_ENDPOINT_LEN: usize = 256;
const FIELDS: [&str; 5] = ["name", "email", "phone", "channels", "pushEndpoint"];

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Email,
    Sms,
    Push,
}

impl Channel {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "email" => Some(Self::Email),
            "sms" => Some(Self::Sms),
            "push" => Some(Self::Push),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Profile {
    pub user_id: String,
    pub name: String,
    pub email: String,
    /// E.164: `+` and 8 to 15 digits.
    pub phone: String,
    /// Sorted, each at most once, never empty.
    pub channels: Vec<Channel>,
    /// The SNS platform endpoint of the customer's device (the app registers it), which push
    /// notifications go to; without one a push notification is recorded but not sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push_endpoint: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// A `PUT /users/me` body that passed validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileRequest {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub channels: Vec<Channel>,
    pub push_endpoint: Option<String>,
}

impl ProfileRequest {
    /// Checks the body field by field and reports every problem at once, each naming its field.
    pub fn from_json(body: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new("", "the body must be a JSON object")]);
        };
        let mut errors: Vec<FieldError> = object
            .keys()
            .filter(|k| !FIELDS.contains(&k.as_str()))
            .map(|k| FieldError::new(truncate(k, 64), "unknown field"))
            .collect();
        let name =
            string_field(object.get("name"), "name").and_then(|n| check_name(&n).map(|()| n));
        let email =
            string_field(object.get("email"), "email").and_then(|e| check_email(&e).map(|()| e));
        let phone =
            string_field(object.get("phone"), "phone").and_then(|p| check_phone(&p).map(|()| p));
        let channels = channels(object.get("channels"));
        let push_endpoint = match object.get("pushEndpoint") {
            None => Ok(None),
            value => string_field(value, "pushEndpoint")
                .and_then(|e| check_push_endpoint(&e).map(|()| Some(e))),
        };
        match (name, email, phone, channels, push_endpoint) {
            (Ok(name), Ok(email), Ok(phone), Ok(channels), Ok(push_endpoint))
                if errors.is_empty() =>
            {
                Ok(Self {
                    name,
                    email,
                    phone,
                    channels,
                    push_endpoint,
                })
            }
            (name, email, phone, channels, push_endpoint) => {
                errors.extend(name.err());
                errors.extend(email.err());
                errors.extend(phone.err());
                errors.extend(channels.err().into_iter().flatten());
                errors.extend(push_endpoint.err());
                Err(errors)
            }
        }
    }

    pub fn into_profile(self, user_id: &str, now: DateTime<Utc>) -> Profile {
        Profile {
            user_id: user_id.to_owned(),
            name: self.name,
            email: self.email,
            phone: self.phone,
            channels: self.channels,
            push_endpoint: self.push_endpoint,
            updated_at: now,
        }
    }
}

fn string_field(value: Option<&Value>, field: &str) -> Result<String, FieldError> {
    match value {
        None => Err(FieldError::new(field, "is required")),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(_) => Err(FieldError::new(field, "must be a string")),
    }
}

fn check_name(name: &str) -> Result<(), FieldError> {
    let chars = name.chars().count();
    if !(1..=MAX_NAME_CHARS).contains(&chars) || name.trim().is_empty() {
        Err(FieldError::new(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} characters, not all blank"),
        ))
    } else if name.chars().any(char::is_control) {
        Err(FieldError::new("name", "must not hold control characters"))
    } else if name.contains(char::REPLACEMENT_CHARACTER) {
        // API Gateway hands a Lambda a JSON body's bytes that are not UTF-8 as U+FFFD.
        Err(FieldError::new(
            "name",
            "must not hold U+FFFD (the request's bytes were not UTF-8)",
        ))
    } else {
        Ok(())
    }
}

/// The shape of an address (`local@domain.tld`), not whether it exists: only a message
/// delivered to it can tell that.
fn check_email(email: &str) -> Result<(), FieldError> {
    let bad = || FieldError::new("email", "must be an email address such as ada@example.com");
    if email.len() > MAX_EMAIL_LEN {
        return Err(bad());
    }
    let Some((local, domain)) = email.split_once('@') else {
        return Err(bad());
    };
    let local_ok = (1..=MAX_EMAIL_LOCAL_LEN).contains(&local.len())
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~.".contains(&b))
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..");
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic()));
    if local_ok && domain_ok {
        Ok(())
    } else {
        Err(bad())
    }
}

fn check_phone(phone: &str) -> Result<(), FieldError> {
    let valid = phone.strip_prefix('+').is_some_and(|digits| {
        PHONE_DIGITS.contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0')
    });
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            "phone",
            "must be E.164: '+' and 8 to 15 digits, such as +4915112345678",
        ))
    }
}

/// An SNS platform endpoint ARN, `arn:<partition>:sns:<region>:<account>:endpoint/<platform>/<app>/<id>`:
/// the shape only, so that a push is never published to a topic or another kind of resource.
fn check_push_endpoint(arn: &str) -> Result<(), FieldError> {
    let word = |s: &str, extra: &[u8]| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = arn.len() <= MAX_PUSH_ENDPOINT_LEN
        && matches!(
            parts.as_slice(),
            ["arn", partition, "sns", region, account, resource]
                if partition.starts_with("aws")
                    && word(partition, b"-")
                    && word(region, b"-")
                    && account.len() == 12
                    && account.bytes().all(|b| b.is_ascii_digit())
                    && matches!(
                        resource.split('/').collect::<Vec<_>>().as_slice(),
                        ["endpoint", platform, app, id]
                            if word(platform, b"_") && word(app, b"_.-") && word(id, b"-")
                    )
        );
    if valid {
        Ok(())
    } else {
        Err(FieldError::new(
            "pushEndpoint",
            "must be an SNS platform endpoint ARN such as arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/shop/0b7c…",
        ))
    }
}

fn channels(value: Option<&Value>) -> Result<Vec<Channel>, Vec<FieldError>> {
    let items = match value {
        None => return Err(vec![FieldError::new("channels", "is required")]),
        Some(Value::Array(items)) if !items.is_empty() => items,
        Some(_) => {
            return Err(vec![FieldError::new(
                "channels",
                "must be a non-empty array of \"email\", \"sms\" and \"push\"",
            )]);
        }
    };
    let mut errors = Vec::new();
    let mut channels = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("channels[{i}]");
        match item.as_str().and_then(Channel::parse) {
            None => errors.push(FieldError::new(
                path,
                "must be \"email\", \"sms\" or \"push\"",
            )),
            Some(c) if channels.contains(&c) => {
                errors.push(FieldError::new(path, "appears more than once"));
            }
            Some(c) => channels.push(c),
        }
    }
    if errors.is_empty() {
        channels.sort();
        Ok(channels)
    } else {
        Err(errors)
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    s.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(body: Value) -> Vec<String> {
        ProfileRequest::from_json(&body)
            .unwrap_err()
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    fn valid() -> Value {
        json!({"name":"Ada Lovelace","email":"ada@example.com","phone":"+441234567890","channels":["sms","email"]})
    }

    #[test]
    fn accepts_a_valid_profile_and_sorts_its_channels() {
        let request = ProfileRequest::from_json(&valid()).unwrap();
        assert_eq!(request.channels, vec![Channel::Email, Channel::Sms]);
        assert_eq!(request.phone, "+441234567890");
    }

    #[test]
    fn a_push_endpoint_is_optional_and_must_be_an_sns_endpoint_arn() {
        assert_eq!(
            ProfileRequest::from_json(&valid()).unwrap().push_endpoint,
            None
        );
        let good = "arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/shop-app/0b7c1f2e-5a4d-3e8f-9a1b-2c3d4e5f6a7b";
        let mut body = valid();
        body["pushEndpoint"] = json!(good);
        assert_eq!(
            ProfileRequest::from_json(&body)
                .unwrap()
                .push_endpoint
                .as_deref(),
            Some(good)
        );
        for bad in [
            json!(""),
            json!(42),
            json!(null),
            json!("arn:aws:sns:eu-west-1:123456789012:orders-topic"),
            json!("arn:aws:sqs:eu-west-1:123456789012:endpoint/GCM/app/id"),
            json!("arn:aws:sns:eu-west-1:1234:endpoint/GCM/app/id"),
            json!("arn:aws:sns:eu-west-1:123456789012:endpoint/GCM/app/id/extra"),
            json!(format!("{good}{}", "a".repeat(200))),
        ] {
            body["pushEndpoint"] = bad.clone();
            assert_eq!(fields(body.clone()), vec!["pushEndpoint"], "{bad}");
        }
    }

    #[test]
    fn email_shapes() {
        for good in [
            "a@b.co",
            "first.last+tag@mail.example.org",
            "x_y@sub-domain.io",
        ] {
            assert!(check_email(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            ".a@b.com",
            "a..b@c.com",
            "a@-b.com",
            "a@b..com",
            "a@b.c0",
            "a@b.c",
        ] {
            assert!(check_email(bad).is_err(), "{bad}");
        }
        assert!(check_email(&format!("{}@b.com", "a".repeat(65))).is_err());
    }

    #[test]
    fn phone_numbers_are_e164() {
        for good in ["+12345678", "+123456789012345"] {
            assert!(check_phone(good).is_ok(), "{good}");
        }
        for bad in [
            "12345678",
            "+1234567",
            "+1234567890123456",
            "+01234567",
            "+1 234 567 89",
            "+12345678a",
        ] {
            assert!(check_phone(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_problem_names_its_field() {
        assert_eq!(fields(json!([])), vec![""]);
        assert_eq!(
            fields(json!({})),
            vec!["name", "email", "phone", "channels"]
        );
        let mut body = valid();
        body["extra"] = json!(1);
        body["name"] = json!("");
        body["channels"] = json!(["email", "fax", "email"]);
        assert_eq!(
            fields(body),
            vec!["extra", "name", "channels[1]", "channels[2]"]
        );
        let mut body = valid();
        body["name"] = json!("x".repeat(101));
        body["email"] = json!(5);
        body["channels"] = json!([]);
        assert_eq!(fields(body), vec!["name", "email", "channels"]);
        let mut body = valid();
        body["name"] = json!("é".repeat(100));
        assert!(
            ProfileRequest::from_json(&body).is_ok(),
            "100 characters, 200 bytes"
        );
        body["name"] = json!("   ");
        assert_eq!(fields(body), vec!["name"]);
    }
}
