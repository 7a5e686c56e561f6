//! The state machine writes order statuses itself (its DynamoDB `updateItem` tasks), each under a
//! condition. This evaluates every such condition, for every status with and without a requested
//! cancellation, and compares it with the saga's rows of the one status table
//! (`order_core::order::STATUS_MOVES`): the definition and the code cannot drift apart.

use order_core::order::{Mover, OrderStatus};
use serde_json::Value;

const DEFINITION: &str = include_str!("../../statemachines/order-saga.asl.json");

/// Every `Task` state of the definition, nested ones included, by name.
fn tasks(states: &Value, found: &mut Vec<(String, Value)>) {
    for (name, state) in states.as_object().into_iter().flatten() {
        if state["Type"] == "Task" {
            found.push((name.clone(), state.clone()));
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            tasks(&branch["States"], found);
        }
        for key in ["Iterator", "ItemProcessor"] {
            tasks(&state[key]["States"], found);
        }
    }
}

/// A condition expression over an order's status and its `cancelRequestedAt`, the part of
/// DynamoDB's grammar these conditions use. Anything else fails the test rather than guessing.
struct Condition<'a> {
    tokens: Vec<String>,
    at: usize,
    names: &'a Value,
    values: &'a Value,
}

#[derive(Clone, Copy)]
struct Item {
    status: OrderStatus,
    cancel_requested: bool,
}

impl<'a> Condition<'a> {
    fn new(text: &str, names: &'a Value, values: &'a Value) -> Self {
        let mut tokens = Vec::new();
        let mut word = String::new();
        for c in text.chars() {
            if c.is_alphanumeric() || matches!(c, '#' | ':' | '_') {
                word.push(c);
                continue;
            }
            if !word.is_empty() {
                tokens.push(std::mem::take(&mut word));
            }
            match c {
                '(' | ')' | ',' | '=' => tokens.push(c.to_string()),
                '<' | '>' => {
                    if tokens.last().is_some_and(|t| t == "<") && c == '>' {
                        tokens.pop();
                        tokens.push("<>".into());
                    } else {
                        tokens.push(c.to_string());
                    }
                }
                c if c.is_whitespace() => {}
                c => panic!("unexpected {c:?} in {text}"),
            }
        }
        if !word.is_empty() {
            tokens.push(word);
        }
        Self {
            tokens,
            at: 0,
            names,
            values,
        }
    }

    fn peek(&self) -> Option<&str> {
        self.tokens.get(self.at).map(String::as_str)
    }

    fn next(&mut self) -> String {
        let token = self
            .tokens
            .get(self.at)
            .cloned()
            .expect("more of the expression");
        self.at += 1;
        token
    }

    fn expect(&mut self, token: &str) {
        let got = self.next();
        assert_eq!(got, token, "in {:?}", self.tokens);
    }

    fn attribute(&self, token: &str) -> String {
        match token.strip_prefix('#') {
            Some(_) => self.names[token]
                .as_str()
                .expect("a declared name")
                .to_owned(),
            None => token.to_owned(),
        }
    }

    fn status_value(&self, token: &str) -> OrderStatus {
        let text = self.values[token]["S"]
            .as_str()
            .unwrap_or_else(|| panic!("{token} is not a fixed string"));
        serde_json::from_value(Value::String(text.into()))
            .unwrap_or_else(|_| panic!("{token} = {text} is not a status"))
    }

    fn next_status(&mut self) -> OrderStatus {
        let token = self.next();
        self.status_value(&token)
    }

    /// Parses the whole expression into a predicate over an item.
    fn parse(mut self) -> Box<dyn Fn(Item) -> bool + 'a> {
        let predicate = self.or();
        assert!(self.peek().is_none(), "left over in {:?}", self.tokens);
        predicate
    }

    fn or(&mut self) -> Box<dyn Fn(Item) -> bool + 'a> {
        let mut left = self.and();
        while self.peek() == Some("OR") {
            self.next();
            let right = self.and();
            left = Box::new(move |item| left(item) || right(item));
        }
        left
    }

    fn and(&mut self) -> Box<dyn Fn(Item) -> bool + 'a> {
        let mut left = self.unary();
        while self.peek() == Some("AND") {
            self.next();
            let right = self.unary();
            left = Box::new(move |item| left(item) && right(item));
        }
        left
    }

    fn unary(&mut self) -> Box<dyn Fn(Item) -> bool + 'a> {
        if self.peek() == Some("NOT") {
            self.next();
            let inner = self.unary();
            return Box::new(move |item| !inner(item));
        }
        if self.peek() == Some("(") {
            self.next();
            let inner = self.or();
            self.expect(")");
            return inner;
        }
        let first = self.next();
        if first == "attribute_exists" || first == "attribute_not_exists" {
            self.expect("(");
            let name = self.next();
            self.expect(")");
            assert_eq!(
                self.attribute(&name),
                "cancelRequestedAt",
                "a condition on another attribute"
            );
            let exists = first == "attribute_exists";
            return Box::new(move |item| item.cancel_requested == exists);
        }
        assert_eq!(
            self.attribute(&first),
            "status",
            "a comparison of another attribute"
        );
        match self.next().as_str() {
            op @ ("=" | "<>") => {
                let value = self.next_status();
                let equal = op == "=";
                Box::new(move |item| (item.status == value) == equal)
            }
            "IN" => {
                self.expect("(");
                let mut set = vec![self.next_status()];
                while self.peek() == Some(",") {
                    self.next();
                    set.push(self.next_status());
                }
                self.expect(")");
                Box::new(move |item| set.contains(&item.status))
            }
            other => panic!("unsupported operator {other}"),
        }
    }
}

#[test]
fn every_status_write_of_the_state_machine_allows_exactly_the_moves_of_the_status_table() {
    let definition: Value = serde_json::from_str(DEFINITION).expect("the definition is JSON");
    let mut found = Vec::new();
    tasks(&definition["States"], &mut found);
    let mut checked = Vec::new();
    let mut differences = Vec::new();
    for (name, task) in &found {
        if !task["Resource"]
            .as_str()
            .is_some_and(|r| r.ends_with(":dynamodb:updateItem"))
        {
            continue;
        }
        let parameters = &task["Parameters"];
        let update = parameters["UpdateExpression"].as_str().unwrap_or_default();
        let names = &parameters["ExpressionAttributeNames"];
        let values = &parameters["ExpressionAttributeValues"];
        // The status it writes: `SET #s = :v` with `#s` naming `status`.
        let Some(to) = update
            .trim_start_matches("SET ")
            .split(',')
            .filter_map(|set| set.split_once('='))
            .find(|(target, _)| names[target.trim()] == "status")
            .map(|(_, value)| value.trim())
        else {
            continue;
        };
        let to: OrderStatus = serde_json::from_value(values[to]["S"].clone())
            .unwrap_or_else(|_| panic!("{name} writes a status that is not fixed"));
        let condition = parameters["ConditionExpression"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} writes the status without a condition"));
        let allows = Condition::new(condition, names, values).parse();
        for status in OrderStatus::ALL {
            for cancel_requested in [false, true] {
                let asl = allows(Item {
                    status,
                    cancel_requested,
                });
                let table = status.can_become_by(to, cancel_requested, Mover::Saga);
                if asl != table {
                    differences.push(format!(
                        "{name}: {status:?} -> {to:?} with a cancellation requested: \
                         {cancel_requested}: the definition says {asl}, the table {table}"
                    ));
                }
            }
        }
        checked.push(format!("{name} ({to:?})"));
    }
    assert!(
        checked.len() >= 5,
        "the saga's status writes were not found: {checked:?}"
    );
    assert!(differences.is_empty(), "{}", differences.join("\n"));
    println!("checked against the status table: {}", checked.join(", "));
}

/// The evaluator itself: a condition that allows one move too many is caught.
#[test]
fn a_condition_that_allows_a_move_the_table_does_not_is_told_apart() {
    let names = serde_json::json!({"#status": "status", "#c": "cancelRequestedAt"});
    let values = serde_json::json!({":from": {"S": "PENDING"}, ":to": {"S": "RESERVED"}});
    let strict = Condition::new(
        "(#status = :from OR #status = :to) AND attribute_not_exists(#c)",
        &names,
        &values,
    )
    .parse();
    let loose = Condition::new("#status = :from OR #status = :to", &names, &values).parse();
    let cancelling = Item {
        status: OrderStatus::Pending,
        cancel_requested: true,
    };
    assert!(!strict(cancelling));
    assert!(loose(cancelling));
    assert!(!OrderStatus::Pending.can_become(OrderStatus::Reserved, true));
}
