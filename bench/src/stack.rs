//! The scratch stack (ministack): its env file, Cognito tokens, API calls, raw AWS JSON calls to
//! the emulator, and the CPU time of each of its components (from /proc).

use crate::util::{TICKS_PER_SEC, environ_var, pids, stat_of, thread_cpu_ns};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The benchmark's own HTTP user agent: its requests to the emulator (DescribeExecution while it
/// waits, CloudTrail and CloudWatch Logs reads) are told apart from the stack's by it.
pub const USER_AGENT: &str = "order-saga-bench";

/// Every local user's password (the stack's user pool accepts it; local/signin.py uses the same).
const LOCAL_PASSWORD: &str = "Local-stack-password-1";

pub struct Stack {
    pub repo: PathBuf,
    pub env: BTreeMap<String, String>,
    pub http: reqwest::Client,
}

impl Stack {
    pub fn open(repo: &Path) -> Stack {
        let file = repo.join("local/.state/scratch/env");
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("{}: {e} (is the scratch stack up?)", file.display()));
        let env = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        // The workspace builds reqwest with rustls and no provider (the root Cargo.toml says why).
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
            .user_agent(USER_AGENT)
            .build()
            .expect("http client");
        Stack {
            repo: repo.to_path_buf(),
            env,
            http,
        }
    }

    pub fn var(&self, key: &str) -> String {
        self.env
            .get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} is not in the scratch env file"))
    }

    pub fn gateway(&self) -> String {
        self.var("GATEWAY_URL")
    }

    /// ministack's one endpoint for every AWS service.
    pub fn endpoint(&self) -> String {
        self.var("AWS_ENDPOINT_URL")
    }

    /// The state directory of the scratch profile (ministack.pid, ministack.log).
    pub fn state_dir(&self) -> PathBuf {
        self.repo.join("local/.state/scratch")
    }

    /// {deployed function name: binary}, from the env file's `FUNCTION_<BINARY>` entries.
    pub fn functions(&self) -> BTreeMap<String, String> {
        self.env
            .iter()
            .filter_map(|(k, v)| {
                let binary = k.strip_prefix("FUNCTION_")?;
                Some((v.clone(), binary.to_ascii_lowercase().replace('_', "-")))
            })
            .collect()
    }

    /// The log group of a function's binary (`LOG_GROUP_<BINARY>`).
    pub fn log_group(&self, binary: &str) -> String {
        self.var(&format!(
            "LOG_GROUP_{}",
            binary.to_ascii_uppercase().replace('-', "_")
        ))
    }

    /// Signs `name` in to the stack's Cognito user pool as local/signin.py does (created on first
    /// use, added to `groups`, ADMIN_USER_PASSWORD_AUTH): (sub, access token). The API's JWT
    /// authorizer checks the token; the user's id is its `sub`.
    pub async fn sign_in(&self, name: &str, groups: &[&str]) -> (String, String) {
        let pool = self.var("COGNITO_USER_POOL_ID");
        let created = self
            .aws_json(
                "AWSCognitoIdentityProviderService.AdminCreateUser",
                "1.1",
                json!({"UserPoolId": pool, "Username": name,
                    "TemporaryPassword": LOCAL_PASSWORD, "MessageAction": "SUPPRESS"}),
            )
            .await;
        // A user signed in before (by an earlier subcommand on this stack) is read instead.
        let user = if created["__type"]
            .as_str()
            .is_some_and(|t| t.contains("UsernameExists"))
        {
            self.aws_json(
                "AWSCognitoIdentityProviderService.AdminGetUser",
                "1.1",
                json!({"UserPoolId": pool, "Username": name}),
            )
            .await["UserAttributes"]
                .clone()
        } else {
            created["User"]["Attributes"].clone()
        };
        let sub = user
            .as_array()
            .and_then(|a| a.iter().find(|a| a["Name"] == "sub"))
            .and_then(|a| a["Value"].as_str())
            .unwrap_or_else(|| panic!("no sub for {name}: {created}"))
            .to_string();
        self.aws_json(
            "AWSCognitoIdentityProviderService.AdminSetUserPassword",
            "1.1",
            json!({"UserPoolId": pool, "Username": name, "Password": LOCAL_PASSWORD, "Permanent": true}),
        )
        .await;
        for group in groups {
            self.aws_json(
                "AWSCognitoIdentityProviderService.AdminAddUserToGroup",
                "1.1",
                json!({"UserPoolId": pool, "Username": name, "GroupName": group}),
            )
            .await;
        }
        let signed_in = self
            .aws_json(
                "AWSCognitoIdentityProviderService.AdminInitiateAuth",
                "1.1",
                json!({"UserPoolId": pool, "ClientId": self.var("COGNITO_CLIENT_ID"),
                    "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                    "AuthParameters": {"USERNAME": name, "PASSWORD": LOCAL_PASSWORD}}),
            )
            .await;
        let token = signed_in["AuthenticationResult"]["AccessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("no token for {name}: {signed_in}"))
            .to_string();
        (sub, token)
    }

    pub async fn api(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.gateway(), path);
        let mut req = self
            .http
            .request(method.parse().expect("method"), url)
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        match req.send().await {
            Ok(resp) => {
                let status = resp.status().as_u16();
                let value = resp.json().await.unwrap_or(Value::Null);
                (status, value)
            }
            Err(e) => (0, json!({"error": e.to_string()})),
        }
    }

    /// A raw AWS JSON-protocol call (`X-Amz-Target`, `application/x-amz-json-<version>`) to the
    /// emulator, which does not check signatures; the credential scope in the Authorization header
    /// names the service. Panics on a transport error; an AWS error comes back as its JSON.
    pub async fn aws_json(&self, target: &str, version: &str, body: Value) -> Value {
        let service = match target.split('.').next().unwrap_or("") {
            t if t.starts_with("DynamoDB") => "dynamodb",
            t if t.starts_with("AWSStepFunctions") => "states",
            t if t.starts_with("AWSCognito") => "cognito-idp",
            t if t.starts_with("CloudTrail") => "cloudtrail",
            t if t.starts_with("Logs") => "logs",
            _ => "unknown",
        };
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        let resp = self
            .http
            .post(self.endpoint())
            .header("X-Amz-Target", target)
            .header("Content-Type", format!("application/x-amz-json-{version}"))
            .header("Authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .unwrap_or_else(|e| panic!("{target}: {e}"));
        resp.json().await.unwrap_or(Value::Null)
    }

    pub async fn aws(&self, target: &str, body: Value) -> Value {
        self.aws_json(target, "1.0", body).await
    }

    /// The functions Lambda's event source mappings invoke, with their source: {binary: "SQS" or
    /// "DynamoDB stream"} (`ListEventSourceMappings`).
    pub async fn event_source_mappings(&self) -> BTreeMap<String, String> {
        let listed: Value = self
            .http
            .get(format!(
                "{}/2015-03-31/event-source-mappings/",
                self.endpoint()
            ))
            .header(
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/lambda/aws4_request, SignedHeaders=host, Signature=0",
            )
            .send()
            .await
            .expect("ListEventSourceMappings")
            .json()
            .await
            .unwrap_or(Value::Null);
        let functions = self.functions();
        listed["EventSourceMappings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let name = m["FunctionArn"].as_str()?.rsplit(":function:").next()?;
                let binary = functions.get(name.split(':').next()?)?.clone();
                let source = m["EventSourceArn"].as_str()?;
                let kind = if source.starts_with("arn:aws:sqs:") {
                    "SQS"
                } else if source.contains("/stream/") {
                    "DynamoDB stream"
                } else {
                    "other"
                };
                Some((binary, kind.to_string()))
            })
            .collect()
    }

    /// Changes one of ministack's run-time settings (`POST /_ministack/config`, whitelisted keys,
    /// e.g. `cloudtrail._recording_enabled`); returns what it applied.
    pub async fn configure(&self, key: &str, value: Value) -> Value {
        let resp = self
            .http
            .post(format!("{}/_ministack/config", self.endpoint()))
            .json(&json!({ key: value }))
            .send()
            .await
            .expect("POST /_ministack/config");
        let applied: Value = resp.json().await.unwrap_or(Value::Null);
        assert!(
            applied["applied"].get(key).is_some(),
            "ministack did not apply {key}: {applied}"
        );
        applied
    }

    /// create-order prices from the order side's product view, which sync-product fills from the
    /// catalog's `ProductUpdated` event (SNS → SQS → Lambda): a new product can be ordered only
    /// once it is there. Waits up to 60 s.
    async fn wait_for_product_view(&self, sku: &str) {
        let key = json!({
            "TableName": self.var("ORDERS_TABLE"),
            "Key": {"pk": {"S": format!("PRODUCT#{sku}")}, "sk": {"S": "PRODUCT"}},
        });
        for _ in 0..120 {
            let found = self.aws("DynamoDB_20120810.GetItem", key.clone()).await;
            if found.get("Item").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{sku} never reached the order side's product view (is sync-product running?)");
    }

    /// The benchmark product (through the admin API, so the product view is filled by the event
    /// path) and `users` buyers with an account and money: (user name, access token) each.
    pub async fn seed(&self, users: usize) -> Vec<(String, String)> {
        let (_, admin) = self.sign_in("bench-admin", &["admin"]).await;
        let (s, v) = self
            .api(
                "PUT",
                "/products/SKU-BENCH",
                &admin,
                Some(json!({"name": "Benchmark widget", "price": {"amount": 100, "currency": "EUR"}})),
            )
            .await;
        assert!(s == 200 || s == 201, "create product: {s} {v}");
        let (s, v) = self
            .api(
                "POST",
                "/products/SKU-BENCH/stock",
                &admin,
                Some(json!({"delta": 1_000_000})),
            )
            .await;
        assert!(s < 300, "restock: {s} {v}");
        self.wait_for_product_view("SKU-BENCH").await;
        let mut out = Vec::new();
        for i in 0..users {
            let user = format!("bench-{i}");
            let (_, token) = self.sign_in(&user, &[]).await;
            let (s, v) = self
                .api(
                    "POST",
                    "/billing/accounts",
                    &token,
                    Some(json!({"currency": "EUR"})),
                )
                .await;
            assert!(s < 300, "open account: {s} {v}");
            let (s, v) = self
                .api(
                    "POST",
                    "/billing/deposit",
                    &token,
                    Some(json!({"amount": 100_000_000, "currency": "EUR"})),
                )
                .await;
            assert!(s < 300, "deposit: {s} {v}");
            out.push((user, token));
        }
        out
    }
}

/// CPU seconds used so far, per process, by the scratch stack and beside it. Keys:
/// `ministack` (the emulator's own Python process: the pid in ministack.pid, utime + stime from
/// /proc/<pid>/stat, every thread it ever ran), `function <binary> <pid>` (each function process
/// it started: a child in its process group, named by its AWS_LAMBDA_FUNCTION_NAME; the
/// nanosecond run time of its threads, /proc/<pid>/task/*/schedstat, since 10 ms ticks round a
/// release function's work to nothing), `bench` (this process: the client) and `machine` (every
/// CPU's busy time, /proc/stat, so what the rest of the machine did is visible).
pub struct CpuSample(BTreeMap<String, f64>);

pub fn cpu_sample(stack: &Stack) -> CpuSample {
    let mut out = BTreeMap::new();
    let leader: Option<u32> = std::fs::read_to_string(stack.state_dir().join("ministack.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok());
    let functions = stack.functions();
    if let Some(leader) = leader {
        for pid in pids() {
            let Some((pgrp, ticks)) = stat_of(pid) else {
                continue;
            };
            if pgrp != leader {
                continue;
            }
            if pid == leader {
                out.insert("ministack".to_string(), ticks as f64 / TICKS_PER_SEC);
                continue;
            }
            let name = environ_var(pid, "AWS_LAMBDA_FUNCTION_NAME").unwrap_or_default();
            let binary = functions
                .get(&name)
                .cloned()
                .unwrap_or_else(|| "other".to_string());
            let secs =
                thread_cpu_ns(pid).map_or(ticks as f64 / TICKS_PER_SEC, |ns| ns as f64 / 1e9);
            out.insert(format!("function {binary} {pid}"), secs);
        }
    }
    if let Some((_, ticks)) = stat_of(std::process::id()) {
        out.insert("bench".to_string(), ticks as f64 / TICKS_PER_SEC);
    }
    if let Some(busy) = machine_busy_seconds() {
        out.insert("machine".to_string(), busy);
    }
    CpuSample(out)
}

/// Busy CPU seconds of the whole machine since boot (all CPUs; /proc/stat's first line, every
/// field but idle and iowait).
fn machine_busy_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?.strip_prefix("cpu ")?;
    let f: Vec<u64> = line
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let total: u64 = f.iter().take(8).sum();
    let idle = f.get(3)? + f.get(4)?;
    Some((total - idle) as f64 / TICKS_PER_SEC)
}

/// CPU seconds between two samples by component: `ministack`, `functions` (all function processes),
/// `function <binary>` (each binary's processes), `bench`, and `rest of the machine` (the
/// machine's busy time less all of those). A function process that exited between the samples
/// takes its time with it (a process lives as long as its warm environment: minutes).
pub fn cpu_delta(before: &CpuSample, after: &CpuSample) -> BTreeMap<String, f64> {
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for (key, end) in &after.0 {
        let used = end - before.0.get(key).copied().unwrap_or(0.0);
        if let Some(rest) = key.strip_prefix("function ") {
            let binary = rest.rsplit_once(' ').map_or(rest, |(b, _)| b);
            *out.entry("functions".to_string()).or_default() += used;
            *out.entry(format!("function {binary}")).or_default() += used;
        } else {
            *out.entry(key.clone()).or_default() += used;
        }
    }
    if let Some(machine) = out.remove("machine") {
        let ours = ["ministack", "functions", "bench"]
            .iter()
            .filter_map(|k| out.get(*k))
            .sum::<f64>();
        out.insert("rest of the machine".to_string(), (machine - ours).max(0.0));
    }
    out
}
