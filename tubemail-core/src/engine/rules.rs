//! Permission rules: an ordered list the operator keeps, compiled once and
//! consulted for every prompt before it reaches a person.
//!
//! A rule matches on the worker name and tool name (exact or a glob), the
//! worker's working directory (glob, optional) and a regular expression on
//! the tool input (optional). When the input preview is a JSON object (as
//! Claude Code sends it) with a main argument (`command`, `file_path`,
//! `url`, … see [`SUBJECT_KEYS`]), the regex is tried on that value alone,
//! so `^git (status|diff)$` matches a Bash call's `command`; otherwise on
//! the preview as it came (a preview cut short is not JSON: an anchored
//! allow rule then fails safe).

use std::sync::Arc;

use regex::Regex;
use serde_json::Value;

use super::{Engine, Error, Result};
use crate::api::{RuleDecision, RuleTestRequest};
use crate::name::WorkerName;
use crate::wire::{HubConfig, PermissionRule, RuleRef, RuleVerdict};

/// Most rules a hub keeps.
pub const MAX_RULES: usize = 10_000;
/// Longest pattern (glob or regex) a rule may hold, in bytes.
const MAX_PATTERN: usize = 4096;
/// Compiled-program budget per regex: keeps a hostile pattern from
/// costing memory or time on every prompt.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Why a rule list was refused; the message reads after "invalid rules: ".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("rule {index} ({field}): {reason}")]
pub struct RuleError {
    /// Position of the offending rule (0-based).
    pub index: usize,
    /// The field at fault.
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

/// A name pattern: anything, one exact string, or a glob. Globs are
/// matched directly (no regex): names are short and a prompt may be tried
/// against thousands of them.
#[derive(Debug, Clone)]
enum Pattern {
    Any,
    Exact(String),
    Glob(Vec<char>),
}

impl Pattern {
    fn compile(glob: &str) -> std::result::Result<Pattern, String> {
        if glob.is_empty() {
            return Err("must not be empty (use * for any)".into());
        }
        if glob.len() > MAX_PATTERN {
            return Err(format!("longer than {MAX_PATTERN} bytes"));
        }
        if glob.chars().all(|c| c == '*') {
            return Ok(Pattern::Any);
        }
        if !glob.contains(['*', '?']) {
            return Ok(Pattern::Exact(glob.to_owned()));
        }
        Ok(Pattern::Glob(glob.chars().collect()))
    }

    /// `s` is the name, `chars` the same name as characters.
    fn is_match(&self, s: &str, chars: &[char]) -> bool {
        match self {
            Pattern::Any => true,
            Pattern::Exact(x) => x == s,
            Pattern::Glob(g) => glob_match(g, chars),
        }
    }
}

/// `*` matches any run of characters, `?` one character, anything else
/// itself. Linear backtracking on the last `*` (no exponential cases).
fn glob_match(glob: &[char], text: &[char]) -> bool {
    let (mut g, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match glob.get(g) {
            Some('*') => {
                star = Some((g, t));
                g += 1;
            }
            Some(&c) if c == '?' || c == text[t] => {
                g += 1;
                t += 1;
            }
            _ => match star {
                Some((sg, st)) => {
                    g = sg + 1;
                    t = st + 1;
                    star = Some((sg, st + 1));
                }
                None => return false,
            },
        }
    }
    glob[g..].iter().all(|&c| c == '*')
}

/// One rule with its patterns compiled.
#[derive(Debug, Clone)]
struct Compiled {
    rule: PermissionRule,
    worker: Pattern,
    project: Option<Pattern>,
    tool: Pattern,
    input: Option<Regex>,
    /// Index of `input` in the rule set's [`regex::RegexSet`].
    slot: Option<usize>,
}

impl Compiled {
    fn new(index: usize, rule: PermissionRule) -> std::result::Result<Compiled, RuleError> {
        let err = |field, reason| RuleError {
            index,
            field,
            reason,
        };
        let worker = Pattern::compile(&rule.worker).map_err(|r| err("worker", r))?;
        let tool = Pattern::compile(&rule.tool).map_err(|r| err("tool", r))?;
        let project = rule
            .project
            .as_deref()
            .filter(|p| !p.is_empty())
            .map(Pattern::compile)
            .transpose()
            .map_err(|r| err("project", r))?;
        let input = match rule.input.as_deref().filter(|p| !p.is_empty()) {
            None => None,
            Some(p) if p.len() > MAX_PATTERN => {
                return Err(err("input", format!("longer than {MAX_PATTERN} bytes")));
            }
            Some(p) => Some(
                regex::RegexBuilder::new(p)
                    .size_limit(REGEX_SIZE_LIMIT)
                    .build()
                    .map_err(|e| err("input", format!("invalid regex: {e}")))?,
            ),
        };
        if let Some(t) = rule.timeout_secs
            && t > HubConfig::MAX_PERMISSION_TIMEOUT_SECS
        {
            return Err(err(
                "timeout_secs",
                format!(
                    "must be between 0 (never expire) and {}",
                    HubConfig::MAX_PERMISSION_TIMEOUT_SECS
                ),
            ));
        }
        if rule.name.len() > MAX_PATTERN {
            return Err(err("name", format!("longer than {MAX_PATTERN} bytes")));
        }
        Ok(Compiled {
            rule,
            worker,
            project,
            tool,
            input,
            slot: None,
        })
    }

    /// The name fields (cheap: no regex).
    fn names_match(&self, p: &Prompt<'_>) -> bool {
        self.tool.is_match(p.tool, &p.chars[0])
            && self.worker.is_match(p.worker, &p.chars[1])
            && self
                .project
                .as_ref()
                .is_none_or(|m| m.is_match(p.project, &p.chars[2]))
    }
}

/// A prompt as the rules see it.
struct Prompt<'a> {
    worker: &'a str,
    project: &'a str,
    tool: &'a str,
    input: &'a str,
    /// Tool, worker and project as characters (for globs), made once.
    chars: [Vec<char>; 3],
    /// The text an input regex is tried on (made once, when a rule first
    /// needs it): see [`subject`].
    subject: std::cell::OnceCell<Option<String>>,
}

impl Prompt<'_> {
    /// The text an input regex is tried on.
    fn text(&self) -> &str {
        self.subject
            .get_or_init(|| subject(self.input))
            .as_deref()
            .unwrap_or(self.input)
    }
}

/// Keys of Claude Code's tool inputs that hold what the call acts on
/// (Bash `command`; Read/Edit/Write `file_path`; WebFetch `url`; …), in
/// the order they are looked for.
const SUBJECT_KEYS: [&str; 7] = [
    "command",
    "file_path",
    "notebook_path",
    "path",
    "url",
    "pattern",
    "query",
];

/// The main argument of a tool input given as a JSON object, when it has
/// one; `None` means the preview is matched as it is. Only that one value
/// counts: matching any value would let `{"command": "rm -rf ~",
/// "description": "git status"}` pass an allow rule for `^git status$`.
fn subject(input: &str) -> Option<String> {
    let Ok(Value::Object(o)) = serde_json::from_str::<Value>(input) else {
        return None;
    };
    SUBJECT_KEYS
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str).map(str::to_owned))
}

/// The ordered rules, compiled; first match wins.
#[derive(Debug, Clone, Default)]
pub struct RuleSet {
    rules: Vec<Compiled>,
    /// Every rule's input regex in one set, so a prompt is scanned once
    /// however many rules have one (`None` when there are none, or the set
    /// would be too large: then each regex runs on its own).
    inputs: Option<regex::RegexSet>,
}

/// Candidates whose input regex runs on its own before the set is used.
const ONE_BY_ONE: usize = 4;

/// Compiled-program budget of the combined input set.
const SET_SIZE_LIMIT: usize = 64 << 20;

impl RuleSet {
    /// Checks and compiles `rules` (ids are not checked here).
    pub fn compile(rules: Vec<PermissionRule>) -> std::result::Result<RuleSet, RuleError> {
        if rules.len() > MAX_RULES {
            return Err(RuleError {
                index: MAX_RULES,
                field: "rules",
                reason: format!("at most {MAX_RULES} rules"),
            });
        }
        let mut rules = rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| Compiled::new(i, r))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut patterns = Vec::new();
        for c in &mut rules {
            if let Some(re) = &c.input {
                c.slot = Some(patterns.len());
                patterns.push(re.as_str().to_owned());
            }
        }
        let inputs = if patterns.is_empty() {
            None
        } else {
            match regex::RegexSetBuilder::new(&patterns)
                .size_limit(SET_SIZE_LIMIT)
                .build()
            {
                Ok(set) => Some(set),
                Err(e) => {
                    tracing::debug!(error = %e, "input regexes run one by one");
                    None
                }
            }
        };
        Ok(RuleSet { rules, inputs })
    }

    /// The rules as given.
    pub fn rules(&self) -> Vec<PermissionRule> {
        self.rules.iter().map(|c| c.rule.clone()).collect()
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// True without rules.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// What the rules do with a prompt, with `config`'s timeout and default
    /// answer where no rule sets them.
    pub fn decide(
        &self,
        worker: &str,
        project: &str,
        tool: &str,
        input: &str,
        config: &HubConfig,
    ) -> RuleDecision {
        let prompt = Prompt {
            worker,
            project,
            tool,
            input,
            chars: [tool, worker, project].map(|s| s.chars().collect()),
            subject: std::cell::OnceCell::new(),
        };
        // Which input regexes match: the first few candidates run their own
        // regex (a match among the first rules is the common case), later
        // ones use the whole set, scanned once.
        let mut hits: Option<Vec<bool>> = None;
        let mut tried = 0;
        let hit = self.rules.iter().enumerate().find(|(_, c)| {
            if !c.names_match(&prompt) {
                return false;
            }
            let Some(re) = &c.input else {
                return true;
            };
            tried += 1;
            match (&self.inputs, c.slot) {
                (Some(set), Some(slot)) if tried > ONE_BY_ONE => {
                    let hits = hits.get_or_insert_with(|| {
                        let mut v = vec![false; set.len()];
                        for m in set.matches(prompt.text()).iter() {
                            v[m] = true;
                        }
                        v
                    });
                    hits.get(slot).copied().unwrap_or(false)
                }
                _ => re.is_match(prompt.text()),
            }
        });
        match hit {
            None => RuleDecision {
                rule: None,
                verdict: RuleVerdict::Ask,
                timeout_secs: config.permission_timeout_secs,
                default_answer: config.permission_default_answer,
            },
            Some((index, c)) => RuleDecision {
                rule: Some(RuleRef {
                    id: c.rule.id.clone(),
                    name: c.rule.name.clone(),
                    index,
                }),
                verdict: c.rule.verdict,
                timeout_secs: c
                    .rule
                    .timeout_secs
                    .unwrap_or(config.permission_timeout_secs),
                default_answer: c
                    .rule
                    .default_answer
                    .unwrap_or(config.permission_default_answer),
            },
        }
    }
}

/// A fresh rule id.
fn new_rule_id() -> Result<String> {
    let mut bytes = [0u8; 6];
    getrandom::fill(&mut bytes)
        .map_err(|e| Error::BadRequest(format!("no randomness available: {e}")))?;
    Ok(format!(
        "r-{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

/// Gives rules without an id one, and refuses duplicate or odd ids.
fn assign_ids(rules: &mut [PermissionRule]) -> Result<()> {
    let mut seen = std::collections::HashSet::new();
    for (i, r) in rules.iter_mut().enumerate() {
        if r.id.is_empty() {
            r.id = new_rule_id()?;
        }
        let ok = r.id.len() <= 64
            && r.id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
        if !ok {
            return Err(Error::BadRequest(format!(
                "invalid rules: rule {i} (id): use 1-64 letters, digits, '-', '_' or '.'"
            )));
        }
        if !seen.insert(r.id.clone()) {
            return Err(Error::BadRequest(format!(
                "invalid rules: rule {i} (id): duplicate id {}",
                r.id
            )));
        }
    }
    Ok(())
}

impl Engine {
    /// The rules in force, compiled.
    pub fn rule_set(&self) -> Arc<RuleSet> {
        self.inner
            .rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The rules in force, in order.
    pub fn rules(&self) -> Vec<PermissionRule> {
        self.rule_set().rules()
    }

    /// Replaces the whole ordered list: checks and compiles every rule,
    /// stores the list, then puts it in force. Returns it with ids assigned.
    #[tracing::instrument(level = "debug", skip_all, fields(count = rules.len()))]
    pub async fn set_rules(&self, rules: Vec<PermissionRule>) -> Result<Vec<PermissionRule>> {
        let _edit = self.inner.rules_edit.lock().await;
        self.store_rules(rules).await
    }

    /// Adds a rule at `position` (the end when absent or past it).
    pub async fn add_rule(
        &self,
        rule: PermissionRule,
        position: Option<usize>,
    ) -> Result<PermissionRule> {
        let _edit = self.inner.rules_edit.lock().await;
        let mut rules = self.rules();
        let at = position.unwrap_or(rules.len()).min(rules.len());
        if !rule.id.is_empty() && rules.iter().any(|r| r.id == rule.id) {
            return Err(Error::BadRequest(format!(
                "invalid rules: a rule with id {} exists",
                rule.id
            )));
        }
        rules.insert(at, rule);
        let saved = self.store_rules(rules).await?;
        // In range: inserted at `at` just above.
        Ok(saved[at].clone())
    }

    /// Replaces the rule with this id, in place.
    pub async fn update_rule(&self, id: &str, mut rule: PermissionRule) -> Result<PermissionRule> {
        let _edit = self.inner.rules_edit.lock().await;
        let mut rules = self.rules();
        let Some(at) = rules.iter().position(|r| r.id == id) else {
            return Err(Error::NotFound(format!("unknown rule: {id}")));
        };
        rule.id = id.to_owned();
        rules[at] = rule;
        let saved = self.store_rules(rules).await?;
        Ok(saved[at].clone())
    }

    /// Removes the rule with this id; `Ok(false)` when there is none.
    pub async fn delete_rule(&self, id: &str) -> Result<bool> {
        let _edit = self.inner.rules_edit.lock().await;
        let mut rules = self.rules();
        let before = rules.len();
        rules.retain(|r| r.id != id);
        if rules.len() == before {
            return Ok(false);
        }
        self.store_rules(rules).await?;
        Ok(true)
    }

    /// What the rules would do with a prompt (nothing is recorded). The
    /// project defaults to the worker's registered working directory.
    pub fn test_rules(&self, t: &RuleTestRequest) -> RuleDecision {
        let project = t
            .project
            .clone()
            .unwrap_or_else(|| self.worker_cwd(&t.worker));
        self.rule_set().decide(
            &t.worker,
            &project,
            &t.tool_name,
            &t.input_preview,
            &self.hub_config(),
        )
    }

    /// The registered working directory of a worker ("" when unknown).
    pub(crate) fn worker_cwd(&self, worker: &str) -> String {
        let Ok(name) = WorkerName::new(worker) else {
            return String::new();
        };
        self.lock()
            .workers
            .get(&name)
            .map(|e| e.row.cwd.clone())
            .unwrap_or_default()
    }

    async fn store_rules(&self, mut rules: Vec<PermissionRule>) -> Result<Vec<PermissionRule>> {
        assign_ids(&mut rules)?;
        // Thousands of regexes take a while to compile: off the async threads.
        let to_compile = rules.clone();
        let compiled = tokio::task::spawn_blocking(move || RuleSet::compile(to_compile))
            .await
            .map_err(|_| Error::ShuttingDown)?
            .map_err(|e| Error::BadRequest(format!("invalid rules: {e}")))?;
        let to_store = rules.clone();
        self.read(move |store| store.put_rules(&to_store)).await?;
        *self.inner.rules.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(compiled);
        tracing::info!(count = rules.len(), "permission rules replaced");
        Ok(rules)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Behavior;

    fn rule(worker: &str, tool: &str, input: Option<&str>, verdict: RuleVerdict) -> PermissionRule {
        PermissionRule {
            id: String::new(),
            name: String::new(),
            worker: worker.into(),
            project: None,
            tool: tool.into(),
            input: input.map(Into::into),
            verdict,
            timeout_secs: None,
            default_answer: None,
        }
    }

    fn decide(
        set: &RuleSet,
        worker: &str,
        tool: &str,
        input: &str,
    ) -> (Option<usize>, RuleVerdict) {
        let d = set.decide(worker, "/src/app", tool, input, &HubConfig::default());
        (d.rule.map(|r| r.index), d.verdict)
    }

    impl Pattern {
        fn test(&self, s: &str) -> bool {
            self.is_match(s, &s.chars().collect::<Vec<_>>())
        }
    }

    #[test]
    fn globs() {
        let p = Pattern::compile("build-*").unwrap();
        assert!(p.test("build-1"));
        assert!(p.test("build-"));
        assert!(!p.test("xbuild-1"));
        assert!(!p.test("build"));
        let p = Pattern::compile("w?.x").unwrap();
        assert!(p.test("w1.x"));
        assert!(!p.test("w1yx"), "the dot is literal");
        let p = Pattern::compile("Bash").unwrap();
        assert!(p.test("Bash"));
        assert!(!p.test("Bash2"));
        assert!(Pattern::compile("*").unwrap().test(""));
        assert!(Pattern::compile("").is_err());
        let p = Pattern::compile("mcp__*__read").unwrap();
        assert!(p.test("mcp__fs__read"));
        assert!(!p.test("mcp__fs__write"));
    }

    proptest::proptest! {
        /// The direct glob matcher agrees with the glob read as an anchored
        /// regex (`*` = `.*`, `?` = `.`), on short strings over a small
        /// alphabet where backtracking cases abound.
        #[test]
        fn glob_matching_agrees_with_a_regex(glob in "[ab*?é]{1,8}", text in "[abé]{0,10}") {
            let mut re = String::from("^(?s:");
            for c in glob.chars() {
                match c {
                    '*' => re.push_str(".*"),
                    '?' => re.push('.'),
                    c => re.push_str(&regex::escape(&c.to_string())),
                }
            }
            re.push_str(")$");
            let want = Regex::new(&re).unwrap().is_match(&text);
            let got = Pattern::compile(&glob).unwrap().test(&text);
            proptest::prop_assert_eq!(got, want, "glob {:?} text {:?}", glob, text);
        }
    }

    #[test]
    fn first_match_wins() {
        let set = RuleSet::compile(vec![
            rule(
                "build-*",
                "Bash",
                Some("^git (status|diff|log)"),
                RuleVerdict::Allow,
            ),
            rule("*", "Bash", Some("rm -rf"), RuleVerdict::Deny),
            rule("*", "Bash", None, RuleVerdict::Ask),
            rule("*", "*", None, RuleVerdict::Allow),
        ])
        .unwrap();
        let json = |cmd: &str| serde_json::json!({"command": cmd, "description": "x"}).to_string();
        assert_eq!(
            decide(&set, "build-1", "Bash", &json("git status")),
            (Some(0), RuleVerdict::Allow)
        );
        assert_eq!(
            decide(&set, "build-1", "Bash", "git log -1"),
            (Some(0), RuleVerdict::Allow),
            "a plain preview is matched as it is"
        );
        assert_eq!(
            decide(&set, "other", "Bash", &json("git status")),
            (Some(2), RuleVerdict::Ask)
        );
        assert_eq!(
            decide(&set, "build-1", "Bash", &json("rm -rf /")),
            (Some(1), RuleVerdict::Deny)
        );
        assert_eq!(
            decide(&set, "w", "Read", "{}"),
            (Some(3), RuleVerdict::Allow)
        );
        assert_eq!(
            decide(&RuleSet::default(), "w", "Read", "{}"),
            (None, RuleVerdict::Ask)
        );
    }

    #[test]
    fn only_the_main_argument_of_a_json_input_is_matched() {
        let set = RuleSet::compile(vec![
            rule("*", "Bash", Some("^git status$"), RuleVerdict::Allow),
            rule("*", "Edit", Some("^/src/.*[.]rs$"), RuleVerdict::Allow),
        ])
        .unwrap();
        let smuggled =
            serde_json::json!({"command": "rm -rf ~", "description": "git status"}).to_string();
        assert_eq!(
            decide(&set, "w", "Bash", &smuggled),
            (None, RuleVerdict::Ask)
        );
        let edit = serde_json::json!({"old_string": "/src/x.rs", "file_path": "/etc/passwd"});
        assert_eq!(
            decide(&set, "w", "Edit", &edit.to_string()),
            (None, RuleVerdict::Ask)
        );
        let edit = serde_json::json!({"old_string": "a", "file_path": "/src/lib.rs"});
        assert_eq!(
            decide(&set, "w", "Edit", &edit.to_string()),
            (Some(1), RuleVerdict::Allow)
        );
        // A preview cut short is not JSON: the anchored allow does not match it.
        let cut = r#"{"command":"git status","description":"a very long…"#;
        assert_eq!(decide(&set, "w", "Bash", cut), (None, RuleVerdict::Ask));
        assert_eq!(subject("[1]"), None);
        assert_eq!(
            subject(r#"{"url":"https://x"}"#).as_deref(),
            Some("https://x")
        );
    }

    #[test]
    fn later_candidates_use_the_combined_set_with_the_same_answers() {
        let mut rules: Vec<_> = (0..20)
            .map(|i| rule("*", "Bash", Some(&format!("^tool{i}$")), RuleVerdict::Deny))
            .collect();
        rules.push(rule("*", "Bash", Some("^git status$"), RuleVerdict::Allow));
        rules.push(rule("*", "Bash", None, RuleVerdict::Ask));
        let set = RuleSet::compile(rules).unwrap();
        assert!(set.inputs.is_some());
        let json = |cmd: &str| serde_json::json!({"command": cmd}).to_string();
        assert_eq!(
            decide(&set, "w", "Bash", &json("git status")),
            (Some(20), RuleVerdict::Allow)
        );
        for i in [0, 3, 4, 5, 19] {
            assert_eq!(
                decide(&set, "w", "Bash", &json(&format!("tool{i}"))),
                (Some(i), RuleVerdict::Deny),
                "rule {i}"
            );
        }
        assert_eq!(
            decide(&set, "w", "Bash", &json("tool20")),
            (Some(21), RuleVerdict::Ask)
        );
    }

    #[test]
    fn project_and_defaults() {
        let mut r = rule("*", "*", None, RuleVerdict::Ask);
        r.project = Some("/src/*".into());
        r.timeout_secs = Some(5);
        r.default_answer = Some(Behavior::Allow);
        let set = RuleSet::compile(vec![r]).unwrap();
        let cfg = HubConfig {
            permission_timeout_secs: 30,
            ..HubConfig::default()
        };
        let d = set.decide("w", "/src/app", "Read", "", &cfg);
        assert_eq!((d.timeout_secs, d.default_answer), (5, Behavior::Allow));
        let d = set.decide("w", "/elsewhere", "Read", "", &cfg);
        assert!(d.rule.is_none());
        assert_eq!((d.timeout_secs, d.default_answer), (30, Behavior::Deny));
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        let e = RuleSet::compile(vec![
            rule("*", "*", None, RuleVerdict::Ask),
            rule("*", "Bash", Some("(unclosed"), RuleVerdict::Allow),
        ])
        .unwrap_err();
        assert_eq!((e.index, e.field), (1, "input"));
        assert!(e.reason.contains("invalid regex"), "{e}");
        let e = RuleSet::compile(vec![rule("", "*", None, RuleVerdict::Ask)]).unwrap_err();
        assert_eq!(e.field, "worker");
        let mut r = rule("*", "*", None, RuleVerdict::Ask);
        r.timeout_secs = Some(HubConfig::MAX_PERMISSION_TIMEOUT_SECS + 1);
        assert_eq!(RuleSet::compile(vec![r]).unwrap_err().field, "timeout_secs");
    }

    #[test]
    fn ids_are_assigned_and_unique() {
        let mut rules = vec![
            rule("*", "*", None, RuleVerdict::Ask),
            rule("*", "*", None, RuleVerdict::Ask),
        ];
        assign_ids(&mut rules).unwrap();
        assert!(rules[0].id.starts_with("r-"));
        assert_ne!(rules[0].id, rules[1].id);
        rules[1].id = rules[0].id.clone();
        assert!(assign_ids(&mut rules).is_err());
        rules[1].id = "bad id".into();
        assert!(assign_ids(&mut rules).is_err());
    }
}
