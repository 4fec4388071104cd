//! The web UI's static serving over a real socket: cache headers, SPA
//! fallback, API paths that stay JSON, no bearer for the page, and the
//! build-hint page when no UI is built.
#![allow(clippy::unwrap_used, reason = "test code: a panic is a failed test")]

mod common;

use common::{SECRET, TestHub};
use tubemail_hub::Options;

struct Got {
    status: u16,
    cache: Option<String>,
    content_type: Option<String>,
    body: String,
}

async fn get(hub: &TestHub, path: &str, accept: Option<&str>) -> Got {
    let mut req = reqwest::Client::new().get(format!("http://{}{path}", hub.addr));
    if let Some(a) = accept {
        req = req.header("accept", a);
    }
    let r = req.send().await.unwrap();
    let header = |n: &str| r.headers().get(n).map(|v| v.to_str().unwrap().to_owned());
    let cache = header("cache-control");
    let content_type = header("content-type");
    Got {
        status: r.status().as_u16(),
        cache,
        content_type,
        body: r.text().await.unwrap(),
    }
}

fn built_ui(dir: &std::path::Path) {
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<!doctype html><p>app shell</p>").unwrap();
    std::fs::write(dir.join("assets/app-abc123.js"), "console.log(1)").unwrap();
    std::fs::write(dir.join("favicon.svg"), "<svg/>").unwrap();
}

#[tokio::test]
async fn serves_the_built_ui_with_cache_headers_and_spa_fallback() {
    let data = tempfile::tempdir().unwrap();
    let ui = tempfile::tempdir().unwrap();
    built_ui(ui.path());
    let mut options = Options::new(data.path(), SECRET);
    options.ui_dir = Some(ui.path().to_owned());
    let hub = TestHub::start_with(options).await;

    // The shell: no bearer needed, never cached.
    let root = get(&hub, "/", None).await;
    assert_eq!(root.status, 200);
    assert!(root.body.contains("app shell"));
    assert_eq!(
        root.cache.as_deref(),
        Some("no-cache, no-store, must-revalidate")
    );
    assert!(root.content_type.unwrap().starts_with("text/html"));
    let index = get(&hub, "/index.html", None).await;
    assert_eq!(
        index.cache.as_deref(),
        Some("no-cache, no-store, must-revalidate")
    );

    // Hashed assets: cached for a year.
    let js = get(&hub, "/assets/app-abc123.js", None).await;
    assert_eq!(js.status, 200);
    assert_eq!(js.body, "console.log(1)");
    assert_eq!(
        js.cache.as_deref(),
        Some("public, max-age=31536000, immutable")
    );
    assert!(js.content_type.unwrap().starts_with("text/javascript"));
    let icon = get(&hub, "/favicon.svg", None).await;
    assert_eq!(icon.content_type.as_deref(), Some("image/svg+xml"));

    // Deep links load the app; a missing asset or OAuth discovery is a real 404.
    let deep = get(&hub, "/workers/foo", None).await;
    assert_eq!(deep.status, 200);
    assert!(deep.body.contains("app shell"));
    let deep_html = get(&hub, "/some/page.v2", Some("text/html")).await;
    assert_eq!(deep_html.status, 200);
    let missing = get(&hub, "/assets/missing.js", None).await;
    assert_eq!(missing.status, 404);
    assert!(missing.body.contains("\"detail\""));
    let oauth = get(
        &hub,
        "/.well-known/oauth-authorization-server",
        Some("text/html"),
    )
    .await;
    assert_eq!(oauth.status, 404);

    // API paths never turn into the page, and still need the bearer.
    let api = get(&hub, "/api/nope", Some("text/html")).await;
    assert_eq!(api.status, 401);
    let api = reqwest::Client::new()
        .get(format!("http://{}/api/nope", hub.addr))
        .bearer_auth(SECRET)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status().as_u16(), 404);
    assert!(api.text().await.unwrap().contains("Not Found"));

    // Traversal out of the UI dir finds nothing.
    let escape = get(&hub, "/..%2f..%2fetc/passwd", None).await;
    assert!(!escape.body.contains("root:"));

    // Only GET/HEAD on UI paths.
    let post = reqwest::Client::new()
        .post(format!("http://{}/workers/foo", hub.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status().as_u16(), 405);
    hub.stop().await;
}

#[tokio::test]
async fn without_a_built_ui_the_page_says_how_to_build_it() {
    let data = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let mut options = Options::new(data.path(), SECRET);
    options.ui_dir = Some(empty.path().to_owned());
    let hub = TestHub::start_with(options).await;
    let root = get(&hub, "/", None).await;
    assert_eq!(root.status, 200);
    assert!(root.body.contains("npm ci &amp;&amp; npm run build"));
    assert!(root.body.contains("/mcp/"));
    let deep = get(&hub, "/workers/x", None).await;
    assert!(deep.body.contains("npm run build"));
    hub.stop().await;
}

#[tokio::test]
async fn the_built_in_ui_answers_at_root() {
    // Whatever this binary was built with (the UI, or the build hint),
    // `/` is a public HTML page.
    let (_d, hub, _c) = common::hub().await;
    let root = get(&hub, "/", None).await;
    assert_eq!(root.status, 200);
    assert!(root.content_type.unwrap().starts_with("text/html"));
    assert!(root.body.contains("TubeMail"));
    hub.stop().await;
}

#[tokio::test]
async fn every_response_forbids_framing_and_the_page_runs_under_the_policy() {
    let (_d, hub, c) = common::hub().await;
    let mut checked = Vec::new();
    for (path, bearer) in [
        ("/", false),
        ("/workers/x", false),
        ("/health", false),
        ("/api/workers", true),
        ("/api/workers", false),
        ("/nope.js", false),
    ] {
        let mut req = c.http.get(c.url(path));
        if bearer {
            req = req.bearer_auth(SECRET);
        }
        let r = req.send().await.unwrap();
        let h = r.headers();
        assert_eq!(h["x-frame-options"], "DENY", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self';"), "{path}: {csp}");
        assert!(csp.contains("connect-src 'self'"), "{path}: {csp}");
        checked.push(r.status().as_u16());
    }
    assert_eq!(checked, [200, 200, 200, 200, 401, 404]);
    // The page the hub serves (the built UI, or the build hint) has no
    // inline script: `script-src 'self'` lets every one of its scripts run.
    let page = c
        .http
        .get(c.url("/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for tag in page.split("<script").skip(1) {
        let open = tag.split('>').next().unwrap();
        assert!(
            open.contains("src=\"/"),
            "inline or foreign script: <script{open}>"
        );
        let body = tag.split_once('>').unwrap().1;
        assert!(body.starts_with("</script"), "inline script: {tag}");
    }
    hub.stop().await;
}
