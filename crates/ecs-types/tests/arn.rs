//! ECS ARN parsing and formatting.

use ecs_types::arn::task_id_from_arn;
use ecs_types::{Arn, ArnError, EcsArn, EcsResource};

#[test]
fn parses_and_formats_every_ecs_resource() {
    let cases = [
        (
            "arn:aws:ecs:us-east-1:111122223333:cluster/local",
            EcsResource::Cluster {
                name: "local".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:container-instance/local/8f0c2f3b7a8e4c5d9e1f2a3b4c5d6e7f",
            EcsResource::ContainerInstance {
                cluster: Some("local".into()),
                id: "8f0c2f3b7a8e4c5d9e1f2a3b4c5d6e7f".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:container-instance/1f73d099-b914-411c-a9ff-81633b7741dd",
            EcsResource::ContainerInstance {
                cluster: None,
                id: "1f73d099-b914-411c-a9ff-81633b7741dd".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:task/local/0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c",
            EcsResource::Task {
                cluster: Some("local".into()),
                id: "0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:task/0f9a8b7c-6d5e-4f3a-2b1c-0d9e8f7a6b5c",
            EcsResource::Task {
                cluster: None,
                id: "0f9a8b7c-6d5e-4f3a-2b1c-0d9e8f7a6b5c".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:container/local/0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c/1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6",
            EcsResource::Container {
                cluster: Some("local".into()),
                task_id: Some("0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c".into()),
                id: "1e2d3c4b-5a69-4788-9a0b-c1d2e3f4a5b6".into(),
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:task-definition/web-app:3",
            EcsResource::TaskDefinition {
                family: "web-app".into(),
                revision: 3,
            },
        ),
        (
            "arn:aws:ecs:us-east-1:111122223333:service/local/web",
            EcsResource::Service {
                cluster: Some("local".into()),
                name: "web".into(),
            },
        ),
    ];
    for (text, resource) in cases {
        let arn: EcsArn = text.parse().unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(arn.partition, "aws");
        assert_eq!(arn.region, "us-east-1");
        assert_eq!(arn.account_id, "111122223333");
        assert_eq!(arn.resource, resource, "{text}");
        assert_eq!(arn.to_string(), text);
        assert_eq!(serde_json::to_value(&arn).unwrap(), text);
        assert_eq!(serde_json::from_value::<EcsArn>(text.into()).unwrap(), arn);
    }
}

#[test]
fn constructors_format_like_the_backend() {
    assert_eq!(
        EcsArn::task("us-east-1", "111122223333", "local", "0f9a").to_string(),
        "arn:aws:ecs:us-east-1:111122223333:task/local/0f9a"
    );
    assert_eq!(
        EcsArn::container_instance("eu-west-1", "1", "default", "abc").to_string(),
        "arn:aws:ecs:eu-west-1:1:container-instance/default/abc"
    );
    assert_eq!(
        EcsArn::cluster("eu-west-1", "1", "default").to_string(),
        "arn:aws:ecs:eu-west-1:1:cluster/default"
    );
    assert_eq!(
        EcsArn::task_definition("eu-west-1", "1", "web", 12).to_string(),
        "arn:aws:ecs:eu-west-1:1:task-definition/web:12"
    );
    assert_eq!(
        EcsArn::container("eu-west-1", "1", "c", "t", "u").to_string(),
        "arn:aws:ecs:eu-west-1:1:container/c/t/u"
    );
    let task = EcsArn::task("us-east-1", "1", "local", "0f9a");
    assert_eq!(task.id(), "0f9a");
    assert_eq!(task.cluster_name(), Some("local"));
    assert_eq!(EcsArn::task_definition("r", "1", "web", 2).id(), "web:2");
}

#[test]
fn parse_kind_checks_the_resource_type() {
    let text = "arn:aws:ecs:us-east-1:111122223333:cluster/local";
    assert!(EcsArn::parse_kind(text, "cluster").is_ok());
    assert_eq!(
        EcsArn::parse_kind(text, "task").unwrap_err(),
        ArnError::WrongResourceType {
            expected: "task",
            resource: "cluster/local".into()
        }
    );
}

#[test]
fn malformed_arns_give_typed_errors() {
    let err = |s: &str| s.parse::<EcsArn>().unwrap_err();
    assert!(matches!(err("local"), ArnError::MissingPrefix(_)));
    assert!(matches!(
        err("arn:aws:ecs:us-east-1"),
        ArnError::MissingSections(_)
    ));
    assert!(matches!(
        err("arn:aws:iam::111122223333:role/x"),
        ArnError::NotEcs { service, .. } if service == "iam"
    ));
    assert!(matches!(
        err("arn:aws:ecs::111122223333:cluster/x"),
        ArnError::EmptyField {
            field: "region",
            ..
        }
    ));
    assert!(matches!(
        err("arn:aws:ecs:us-east-1::cluster/x"),
        ArnError::EmptyField {
            field: "account ID",
            ..
        }
    ));
    for bad in [
        "arn:aws:ecs:r:1:cluster",
        "arn:aws:ecs:r:1:cluster/",
        "arn:aws:ecs:r:1:cluster/a/b",
        "arn:aws:ecs:r:1:task/a//b",
        "arn:aws:ecs:r:1:task/a/b/c",
        "arn:aws:ecs:r:1:container/a/b",
        "arn:aws:ecs:r:1:task-definition/web",
        "arn:aws:ecs:r:1:task-definition/web:0",
        "arn:aws:ecs:r:1:task-definition/web:x",
        "arn:aws:ecs:r:1:task-definition/:3",
        "arn:aws:ecs:r:1:widget/a",
    ] {
        assert!(
            matches!(err(bad), ArnError::MalformedResource { .. }),
            "{bad}: {:?}",
            err(bad)
        );
    }
    let e = err("arn:aws:ecs:r:1:task-definition/web");
    assert_eq!(
        e.to_string(),
        "malformed ECS task-definition resource \"task-definition/web\""
    );
    assert!(serde_json::from_str::<EcsArn>("\"nope\"").is_err());
}

#[test]
fn generic_arns_keep_colons_in_the_resource() {
    let arn: Arn = "arn:aws:secretsmanager:us-east-1:1:secret:db-pass:password::"
        .parse()
        .unwrap();
    assert_eq!(arn.service, "secretsmanager");
    assert_eq!(arn.resource, "secret:db-pass:password::");
    assert_eq!(
        arn.to_string(),
        "arn:aws:secretsmanager:us-east-1:1:secret:db-pass:password::"
    );
    let iam: Arn = "arn:aws:iam::111122223333:role/web".parse().unwrap();
    assert_eq!(iam.region, "");
}

#[test]
fn task_id_follows_the_reference() {
    assert_eq!(
        task_id_from_arn("arn:aws:ecs:us-east-1:111122223333:task/local/0f9a8b7c").unwrap(),
        "0f9a8b7c"
    );
    assert_eq!(
        task_id_from_arn("arn:aws:ecs:us-east-1:111122223333:task/0f9a8b7c").unwrap(),
        "0f9a8b7c"
    );
    assert!(task_id_from_arn("not-an-arn").is_err());
    assert!(task_id_from_arn("arn:aws:ecs:us-east-1:111122223333:task").is_err());
    assert!(task_id_from_arn("arn:aws:ecs:us-east-1:111122223333:task/local/").is_err());
}
