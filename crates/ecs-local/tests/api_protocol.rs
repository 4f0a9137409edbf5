//! The wire protocol's edges: malformed bodies and headers, unknown operations,
//! missing or bad signatures, oversized bodies, strict SigV4 with real clients. After
//! each refusal the server keeps serving.

mod api_support;

use api_support::{ACCESS_KEY, SECRET_KEY, TestServer, lenient_auth};

/// (target, content type, body, expected status, expected error code)
type Case<'a> = (Option<&'a str>, &'a str, &'a [u8], u16, &'a str);

const TARGET: &str = "AmazonEC2ContainerServiceV20141113.ListClusters";

fn send(
    server: &TestServer,
    target: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> api_support::RawResponse {
    let (auth, date) = lenient_auth();
    let mut headers = vec![
        ("content-type", content_type),
        ("x-amz-date", date.as_str()),
        ("authorization", auth.as_str()),
    ];
    if let Some(target) = target {
        headers.push(("x-amz-target", target));
    }
    server.raw(&headers, body)
}

#[test]
fn malformed_requests_get_aws_errors_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let json11 = "application/x-amz-json-1.1";

    let ok = send(&server, Some(TARGET), json11, b"{}");
    assert_eq!(ok.status, 200, "{:?}", ok.body);
    assert_eq!(ok.header("content-type"), Some(json11));
    assert!(ok.header("x-amzn-requestid").is_some());
    assert_eq!(ok.body["clusterArns"], serde_json::json!([]));
    // An empty body is an empty input.
    assert_eq!(send(&server, Some(TARGET), json11, b"").status, 200);

    let cases: Vec<Case<'_>> = vec![
        (
            Some(TARGET),
            json11,
            b"{not json",
            400,
            "SerializationException",
        ),
        (
            Some(TARGET),
            json11,
            b"[1, 2]",
            400,
            "SerializationException",
        ),
        (
            Some(TARGET),
            json11,
            b"\xff\xfe",
            400,
            "SerializationException",
        ),
        (
            Some("AmazonEC2ContainerServiceV20141113.ListTasks"),
            json11,
            br#"{"maxResults": "ten"}"#,
            400,
            "SerializationException",
        ),
        (
            Some("AmazonEC2ContainerServiceV20141113.DescribeTasks"),
            json11,
            b"{}",
            400,
            "SerializationException",
        ),
        (
            Some(TARGET),
            "text/plain",
            b"{}",
            400,
            "SerializationException",
        ),
        (None, json11, b"{}", 400, "UnknownOperationException"),
        (
            Some("AmazonEC2ContainerServiceV20141113.Frobnicate"),
            json11,
            b"{}",
            400,
            "UnknownOperationException",
        ),
        (
            Some("DynamoDB_20120810.ListTables"),
            json11,
            b"{}",
            400,
            "UnknownOperationException",
        ),
    ];
    for (target, content_type, body, status, code) in cases {
        let response = send(&server, target, content_type, body);
        assert_eq!(
            response.status, status,
            "{target:?} {body:?}: {:?}",
            response.body
        );
        assert_eq!(
            response.error_type(),
            code,
            "{target:?} {body:?}: {:?}",
            response.body
        );
        assert_eq!(response.header("x-amzn-errortype"), Some(code));
        assert!(
            response.body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    let unknown = send(
        &server,
        Some("AmazonEC2ContainerServiceV20141113.Frobnicate"),
        json11,
        b"{}",
    );
    assert!(
        unknown.body["message"]
            .as_str()
            .unwrap()
            .contains("Frobnicate")
    );

    // Declared too large: refused before any of it is read.
    let (auth, date) = lenient_auth();
    let declared = (ecs_local::api::MAX_BODY_BYTES + 1).to_string();
    let response = server.raw(
        &[
            ("content-type", json11),
            ("x-amz-target", TARGET),
            ("x-amz-date", &date),
            ("authorization", &auth),
            ("content-length", &declared),
        ],
        b"",
    );
    assert_eq!(response.status, 413, "{:?}", response.body);
    assert_eq!(response.error_type(), "RequestEntityTooLargeException");

    // Authentication: missing, garbled, stale, wrong service.
    let no_auth = server.raw(&[("content-type", json11), ("x-amz-target", TARGET)], b"{}");
    assert_eq!(no_auth.status, 403);
    assert_eq!(no_auth.error_type(), "MissingAuthenticationTokenException");
    let (auth, date) = lenient_auth();
    let bad = [
        ("AWS4-HMAC-SHA256 garbage".to_string(), date.clone()),
        (auth.replace("AWS4-HMAC-SHA256", "AWS3"), date.clone()),
        (auth.replace("/ecs/", "/s3/"), date.clone()),
        (auth.clone(), "20200101T000000Z".to_string()),
        (auth.clone(), "yesterday".to_string()),
    ];
    for (auth, date) in bad {
        let response = server.raw(
            &[
                ("content-type", json11),
                ("x-amz-target", TARGET),
                ("x-amz-date", &date),
                ("authorization", &auth),
            ],
            b"{}",
        );
        assert_eq!(response.status, 403, "{auth} {date}: {:?}", response.body);
        assert_eq!(
            response.error_type(),
            "InvalidSignatureException",
            "{auth} {date}"
        );
    }

    // Other paths and methods are not the API.
    let mut stream = std::net::TcpStream::connect(server.addr).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /nothing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut text = String::new();
    stream.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 404"), "{text}");

    // Still serving after all of that.
    let cli = server.aws(&["list-clusters"]);
    assert_eq!(cli["clusterArns"], serde_json::json!([]));
}

#[test]
fn strict_sigv4_accepts_the_right_secret_only() {
    let dir = tempfile::tempdir().unwrap();
    let credentials = dir.path().join("credentials");
    std::fs::write(
        &credentials,
        format!("# keys ecs-local accepts\n{ACCESS_KEY} {SECRET_KEY}\nAKIDOTHER other-secret\n"),
    )
    .unwrap();
    let server = TestServer::start_with(&dir.path().join("data"), Some(credentials));

    let created = server.aws(&["create-cluster", "--cluster-name", "signed"]);
    assert_eq!(created["cluster"]["clusterName"], "signed");
    let out = server.aws_with_secret("not-the-secret", &["list-clusters"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("InvalidSignatureException"), "{stderr}");

    let listed = server.boto3("done(ecs.list_clusters()['clusterArns'])");
    assert_eq!(
        listed,
        serde_json::json!(["arn:aws:ecs:us-east-1:111122223333:cluster/signed"])
    );
    server.boto3_with_secret(
        "wrong",
        "e = expect_error('InvalidSignatureException', ecs.list_clusters)\n\
         assert e.response['ResponseMetadata']['HTTPStatusCode'] == 403\n\
         done()",
    );
    // A well-formed signature by an unknown key is refused too.
    let (auth, date) = lenient_auth();
    let response = server.raw(
        &[
            ("content-type", "application/x-amz-json-1.1"),
            ("x-amz-target", TARGET),
            ("x-amz-date", &date),
            ("authorization", &auth.replace(ACCESS_KEY, "AKIDUNKNOWN")),
        ],
        b"{}",
    );
    assert_eq!(response.status, 403);
    assert_eq!(response.error_type(), "UnrecognizedClientException");
}
