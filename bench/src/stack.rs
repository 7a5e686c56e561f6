//! The scratch stack: its env file, tokens, API calls, raw AWS JSON calls to moto, and the CPU
//! time of each of its components (from /proc).

use crate::util::{TICKS_PER_SEC, environ_has, pids, stat_of, thread_cpu_ns};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

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
        let http = reqwest::Client::builder()
            .pool_max_idle_per_host(64)
            .timeout(Duration::from_secs(60))
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

    pub fn moto(&self) -> String {
        self.var("AWS_ENDPOINT_URL")
    }

    /// A development JWT from `local/stack.sh token`.
    pub fn token(&self, user: &str, admin: bool) -> String {
        let mut cmd = std::process::Command::new(self.repo.join("local/stack.sh"));
        cmd.arg("token").arg(user);
        if admin {
            cmd.args(["--scope", "admin"]);
        }
        let out = cmd.output().expect("run local/stack.sh token");
        assert!(out.status.success(), "stack.sh token {user} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
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

    /// A raw AWS JSON-protocol call to moto (moto does not check signatures).
    pub async fn aws(&self, target: &str, service: &str, body: Value) -> Value {
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=0"
        );
        let resp = self
            .http
            .post(self.moto())
            .header("X-Amz-Target", target)
            .header("Content-Type", "application/x-amz-json-1.0")
            .header("Authorization", auth)
            .body(body.to_string())
            .send()
            .await
            .expect("call moto");
        resp.json().await.unwrap_or(Value::Null)
    }

    /// create-order prices from the order side's product view, which sync-product fills from the
    /// catalog's `ProductChanged` event (SNS → SQS → Lambda): a new product can be ordered only
    /// once it is there. Waits up to 60 s.
    async fn wait_for_product_view(&self, sku: &str) {
        let key = json!({
            "TableName": self.var("ORDERS_TABLE"),
            "Key": {"pk": {"S": format!("PRODUCT#{sku}")}, "sk": {"S": "PRODUCT"}},
        });
        for _ in 0..120 {
            let found = self
                .aws("DynamoDB_20120810.GetItem", "dynamodb", key.clone())
                .await;
            if found.get("Item").is_some() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        panic!("{sku} never reached the order side's product view (is sync-product running?)");
    }

    /// Products, accounts and tokens for the benchmark users.
    pub async fn seed(&self, users: usize) -> Vec<(String, String)> {
        let admin = self.token("bench-admin", true);
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
            let token = self.token(&user, false);
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

/// CPU seconds used so far by each component of the scratch stack: moto (the launcher's process
/// group), cargo lambda watch, the function processes, the gateway.
pub fn component_cpu(repo: &Path, lambda_port: &str) -> BTreeMap<String, f64> {
    let state = repo.join("local/.state/scratch");
    let group = |service: &str| -> Option<u32> {
        std::fs::read_to_string(state.join(format!("{service}.pid")))
            .ok()?
            .trim()
            .parse()
            .ok()
    };
    let groups: Vec<(String, u32)> = ["moto", "lambda", "gateway"]
        .iter()
        .filter_map(|s| Some((s.to_string(), group(s)?)))
        .collect();
    let functions_group = group("functions");
    let marker = format!("127.0.0.1:{lambda_port}/.rt/");
    let mut out: BTreeMap<String, f64> = BTreeMap::new();
    for pid in pids() {
        let Some((pgrp, ticks)) = stat_of(pid) else {
            continue;
        };
        let mut secs = ticks as f64 / TICKS_PER_SEC;
        let name = if let Some((n, _)) = groups.iter().find(|(_, g)| *g == pgrp) {
            n.clone()
        } else if Some(pgrp) == functions_group && environ_has(pid, &marker) {
            secs = thread_cpu_ns(pid).map_or(secs, |ns| ns as f64 / 1e9);
            "functions".to_string()
        } else {
            continue;
        };
        *out.entry(name).or_default() += secs;
    }
    out
}

pub fn cpu_delta(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
) -> BTreeMap<String, f64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0.0)))
        .collect()
}
