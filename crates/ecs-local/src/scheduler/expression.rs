//! The cluster query language of `memberOf` placement constraints and of
//! ListContainerInstances' `filter`: `subject operator [argument]` clauses joined with
//! `and` / `or` and grouped with parentheses, e.g.
//! `attribute:ecs.instance-type =~ t2.* and (attribute:stack in [blue, green])`.
//!
//! Subjects: `attribute:NAME`, `ec2InstanceId`, `agentConnected`, `runningTasksCount`,
//! `task:group`. Operators: `==`/`equals`, `!=`/`not_equals`, `exists`,
//! `!exists`/`not_exists`, `in`, `!in`/`not_in`, `=~`/`matches`, `!~`/`not_matches`
//! (`*` is a wildcard), `>`, `>=`, `<`, `<=` (numbers when both sides are numbers).

use crate::store::model::ContainerInstance;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid expression: {0}")]
pub struct ExpressionError(pub String);

#[derive(Debug, Clone, PartialEq)]
enum Subject {
    Attribute(String),
    Ec2InstanceId,
    AgentConnected,
    RunningTasksCount,
    TaskGroup,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Exists,
    NotExists,
    In,
    NotIn,
    Matches,
    NotMatches,
    Gt,
    Ge,
    Lt,
    Le,
}

/// A parsed expression.
#[derive(Debug, Clone, PartialEq)]
pub struct Expression(Node);

#[derive(Debug, Clone, PartialEq)]
enum Node {
    And(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    Clause {
        subject: Subject,
        op: Op,
        args: Vec<String>,
    },
}

/// What an expression is evaluated against.
pub struct Facts<'a> {
    pub instance: &'a ContainerInstance,
    pub running_tasks: usize,
    /// Groups of the live tasks on the instance.
    pub task_groups: Vec<&'a str>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    ListOpen,
    ListClose,
    Comma,
    Word(String),
}

fn tokenize(text: &str) -> Result<Vec<Token>, ExpressionError> {
    let mut tokens = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            c if c.is_whitespace() => {
                chars.next();
            }
            '(' | ')' | '[' | ']' | ',' => {
                chars.next();
                tokens.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::ListOpen,
                    ']' => Token::ListClose,
                    _ => Token::Comma,
                });
            }
            '\'' | '"' => {
                chars.next();
                let mut word = String::new();
                loop {
                    match chars.next() {
                        Some(q) if q == c => break,
                        Some(other) => word.push(other),
                        None => return Err(ExpressionError("unterminated quote".into())),
                    }
                }
                tokens.push(Token::Word(word));
            }
            _ => {
                let mut word = String::new();
                while let Some(&c) = chars.peek() {
                    if c.is_whitespace() || "()[],".contains(c) {
                        break;
                    }
                    word.push(c);
                    chars.next();
                }
                tokens.push(Token::Word(word));
            }
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.at).cloned();
        self.at += 1;
        token
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn or(&mut self) -> Result<Node, ExpressionError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Node::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Node, ExpressionError> {
        let mut left = self.factor()?;
        while self.keyword("and") {
            self.at += 1;
            left = Node::And(Box::new(left), Box::new(self.factor()?));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Node, ExpressionError> {
        if self.peek() == Some(&Token::Open) {
            self.at += 1;
            let inner = self.or()?;
            if self.next() != Some(Token::Close) {
                return Err(ExpressionError("missing ')'".into()));
            }
            return Ok(inner);
        }
        self.clause()
    }

    fn word(&mut self, what: &str) -> Result<String, ExpressionError> {
        match self.next() {
            Some(Token::Word(w)) => Ok(w),
            _ => Err(ExpressionError(format!("expected {what}"))),
        }
    }

    fn clause(&mut self) -> Result<Node, ExpressionError> {
        let subject = self.word("a subject")?;
        let subject = match subject.as_str() {
            "ec2InstanceId" => Subject::Ec2InstanceId,
            "agentConnected" => Subject::AgentConnected,
            "runningTasksCount" => Subject::RunningTasksCount,
            "task:group" => Subject::TaskGroup,
            other => match other.strip_prefix("attribute:") {
                Some(name) if !name.is_empty() => Subject::Attribute(name.to_string()),
                _ => {
                    return Err(ExpressionError(format!("unsupported subject '{other}'")));
                }
            },
        };
        let op = self.word("an operator")?;
        let op = match op.to_ascii_lowercase().as_str() {
            "==" | "equals" => Op::Eq,
            "!=" | "not_equals" => Op::Ne,
            "exists" => Op::Exists,
            "!exists" | "not_exists" => Op::NotExists,
            "in" => Op::In,
            "!in" | "not_in" => Op::NotIn,
            "=~" | "matches" => Op::Matches,
            "!~" | "not_matches" => Op::NotMatches,
            ">" => Op::Gt,
            ">=" => Op::Ge,
            "<" => Op::Lt,
            "<=" => Op::Le,
            other => return Err(ExpressionError(format!("unsupported operator '{other}'"))),
        };
        let args = match op {
            Op::Exists | Op::NotExists => Vec::new(),
            Op::In | Op::NotIn => self.list()?,
            _ => vec![self.word("an argument")?],
        };
        Ok(Node::Clause { subject, op, args })
    }

    fn list(&mut self) -> Result<Vec<String>, ExpressionError> {
        if self.next() != Some(Token::ListOpen) {
            return Err(ExpressionError("expected '[' after in".into()));
        }
        let mut items = Vec::new();
        loop {
            items.push(self.word("a list item")?);
            match self.next() {
                Some(Token::Comma) => continue,
                Some(Token::ListClose) => return Ok(items),
                _ => return Err(ExpressionError("expected ',' or ']'".into())),
            }
        }
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    if !text.ends_with(last) {
        return false;
    }
    for middle in &parts[1..parts.len() - 1] {
        match rest.find(middle) {
            Some(at) => rest = &rest[at + middle.len()..],
            None => return false,
        }
    }
    true
}

fn compare(value: &str, arg: &str) -> std::cmp::Ordering {
    match (value.parse::<f64>(), arg.parse::<f64>()) {
        (Ok(a), Ok(b)) => a.partial_cmp(&b).unwrap_or(std::cmp::Ordering::Equal),
        _ => value.cmp(arg),
    }
}

impl Expression {
    pub fn parse(text: &str) -> Result<Self, ExpressionError> {
        let mut parser = Parser {
            tokens: tokenize(text)?,
            at: 0,
        };
        let expression = parser.or()?;
        if parser.at != parser.tokens.len() {
            return Err(ExpressionError(format!(
                "unexpected text after the expression in '{text}'"
            )));
        }
        Ok(Expression(expression))
    }

    pub fn matches(&self, facts: &Facts<'_>) -> bool {
        self.0.matches(facts)
    }
}

impl Node {
    fn matches(&self, facts: &Facts<'_>) -> bool {
        match self {
            Node::And(a, b) => a.matches(facts) && b.matches(facts),
            Node::Or(a, b) => a.matches(facts) || b.matches(facts),
            Node::Clause { subject, op, args } => {
                let values: Vec<String> = match subject {
                    Subject::Attribute(name) => facts
                        .instance
                        .attribute(name)
                        .map(|a| a.value.clone().unwrap_or_default())
                        .into_iter()
                        .collect(),
                    Subject::Ec2InstanceId => {
                        facts.instance.ec2_instance_id.clone().into_iter().collect()
                    }
                    Subject::AgentConnected => vec![facts.instance.agent_connected.to_string()],
                    Subject::RunningTasksCount => vec![facts.running_tasks.to_string()],
                    Subject::TaskGroup => facts.task_groups.iter().map(|g| g.to_string()).collect(),
                };
                let any = |f: &dyn Fn(&str) -> bool| values.iter().any(|v| f(v));
                let arg = args.first().map(String::as_str).unwrap_or("");
                match op {
                    Op::Exists => !values.is_empty(),
                    Op::NotExists => values.is_empty(),
                    Op::Eq => any(&|v| v == arg),
                    Op::Ne => !any(&|v| v == arg),
                    Op::In => any(&|v| args.iter().any(|a| a == v)),
                    Op::NotIn => !any(&|v| args.iter().any(|a| a == v)),
                    Op::Matches => any(&|v| glob(arg, v)),
                    Op::NotMatches => !any(&|v| glob(arg, v)),
                    Op::Gt => any(&|v| compare(v, arg).is_gt()),
                    Op::Ge => any(&|v| compare(v, arg).is_ge()),
                    Op::Lt => any(&|v| compare(v, arg).is_lt()),
                    Op::Le => any(&|v| compare(v, arg).is_le()),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::model::Attribute;

    fn instance() -> ContainerInstance {
        ContainerInstance {
            arn: "i".into(),
            cluster_arn: "c".into(),
            status: "ACTIVE".into(),
            ec2_instance_id: Some("i-0abc".into()),
            registered_resources: vec![],
            attributes: vec![
                Attribute {
                    name: "ecs.instance-type".into(),
                    value: Some("t2.micro".into()),
                },
                Attribute {
                    name: "stack".into(),
                    value: Some("blue".into()),
                },
                Attribute {
                    name: "ecs.capability.full-sync".into(),
                    value: None,
                },
            ],
            version_info: None,
            registered_at: 0.0,
            agent_connected: true,
            agent_disconnected_at: None,
            client_token: None,
            version: 1,
        }
    }

    fn check(text: &str) -> bool {
        let instance = instance();
        let facts = Facts {
            instance: &instance,
            running_tasks: 3,
            task_groups: vec!["family:web"],
        };
        Expression::parse(text).unwrap().matches(&facts)
    }

    #[test]
    fn evaluates_the_query_language() {
        assert!(check("attribute:ecs.instance-type =~ t2.*"));
        assert!(!check("attribute:ecs.instance-type =~ m5.*"));
        assert!(check("attribute:stack == blue and agentConnected == true"));
        assert!(check("attribute:stack in [green, blue]"));
        assert!(check(
            "attribute:stack not_in [green] and attribute:ecs.capability.full-sync exists"
        ));
        assert!(check("attribute:missing !exists"));
        assert!(check(
            "(attribute:stack == green or runningTasksCount >= 3) and ec2InstanceId == 'i-0abc'"
        ));
        assert!(!check("runningTasksCount > 3"));
        assert!(check("task:group == family:web"));
        assert!(!check("attribute:stack != blue"));
    }

    #[test]
    fn refuses_what_it_does_not_understand() {
        for bad in [
            "",
            "attribute:stack",
            "attribute:stack ~= blue",
            "instanceType == t2",
            "attribute:stack in blue",
            "(attribute:stack == blue",
            "attribute:stack == blue extra",
            "attribute:stack == 'blue",
        ] {
            assert!(Expression::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs() {
        assert!(glob("t2.*", "t2.micro"));
        assert!(glob("*micro", "t2.micro"));
        assert!(glob("t*.m*o", "t2.micro"));
        assert!(!glob("t3.*", "t2.micro"));
        assert!(glob("exact", "exact"));
        assert!(!glob("a*a", "a"));
    }
}
