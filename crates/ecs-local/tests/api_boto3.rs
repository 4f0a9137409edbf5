//! boto3 (botocore's model, every response validated against its output shapes) playing
//! both an agent and a user: registration, placement, the task lifecycle through state
//! changes, attributes, tags, draining and error mapping.

mod api_support;

use api_support::TestServer;
use serde_json::json;

#[test]
fn agent_registration_echoes_attributes_and_keeps_its_arn() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let out = server.boto3(
        r#"
# Registration into a cluster that does not exist yet creates it (the agent would exit
# otherwise).
first = register_instance(cluster='agents', tags=[{'key': 'host', 'value': 'a'}])
arn = first['containerInstanceArn']
assert arn.startswith('arn:aws:ecs:us-east-1:111122223333:container-instance/agents/'), arn
assert first['attributes'] == AGENT_ATTRIBUTES, first['attributes']
assert first['status'] == 'ACTIVE'
assert first['registeredResources'] == [dict(r, doubleValue=0.0, longValue=0, **({'integerValue': 0} if 'integerValue' not in r else {})) for r in RESOURCES], first['registeredResources']

again = register_instance(cluster='agents', containerInstanceArn=arn)
assert again['containerInstanceArn'] == arn
assert again['version'] == first['version'] + 1

# An ARN this control plane has never seen is adopted rather than refused.
foreign = arn.rsplit('/', 1)[0] + '/0123456789abcdef0123456789abcdef'
adopted = register_instance(cluster='agents', containerInstanceArn=foreign)
assert adopted['containerInstanceArn'] == foreign

listed = ecs.list_container_instances(cluster='agents')['containerInstanceArns']
assert sorted(listed) == sorted([arn, foreign]), listed
described = ecs.describe_container_instances(cluster='agents', containerInstances=[arn.rsplit('/', 1)[1], 'missing'], include=['TAGS'])
ci = described['containerInstances'][0]
assert ci['containerInstanceArn'] == arn
assert ci['agentConnected'] is False
assert ci['tags'] == [{'key': 'host', 'value': 'a'}]
assert described['failures'][0]['reason'] == 'MISSING'

poll = ecs.discover_poll_endpoint(cluster='agents', containerInstance=arn)
# A full ARN names its cluster; no --cluster needed.
implied = ecs.describe_container_instances(containerInstances=[arn])
assert implied['containerInstances'][0]['containerInstanceArn'] == arn, implied
done({'poll': poll, 'arn': arn, 'clusters': ecs.list_clusters()['clusterArns']})
"#,
    );
    let endpoint = server.endpoint();
    assert_eq!(out["poll"]["endpoint"], format!("{endpoint}/acs"));
    assert_eq!(out["poll"]["telemetryEndpoint"], format!("{endpoint}/tcs"));
    assert_eq!(
        out["clusters"],
        json!(["arn:aws:ecs:us-east-1:111122223333:cluster/agents"])
    );

    // The agent's own members that boto3's model lacks: clientToken and zoneId.
    let (auth, date) = api_support::lenient_auth();
    let body = json!({
        "cluster": "agents",
        "instanceIdentityDocument": "",
        "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": 1024}],
        "attributes": [{"name": "ecs.capability.full-sync"}],
        "clientToken": "7f0c1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    });
    let send = |target: &str, body: &serde_json::Value| {
        server.raw(
            &[
                ("content-type", "application/x-amz-json-1.1"),
                ("x-amz-target", target),
                ("x-amz-date", &date),
                ("authorization", &auth),
            ],
            body.to_string().as_bytes(),
        )
    };
    let target = "AmazonEC2ContainerServiceV20141113.RegisterContainerInstance";
    let first = send(target, &body);
    assert_eq!(first.status, 200, "{:?}", first.body);
    let retried = send(target, &body);
    assert_eq!(
        first.body["containerInstance"]["containerInstanceArn"],
        retried.body["containerInstance"]["containerInstanceArn"],
        "a retry with the same clientToken is the same registration"
    );
    let poll = send(
        "AmazonEC2ContainerServiceV20141113.DiscoverPollEndpoint",
        &json!({"cluster": "agents", "containerInstance": out["arn"], "zoneId": ""}),
    );
    assert_eq!(poll.status, 200, "{:?}", poll.body);
    assert!(
        poll.body["endpoint"]
            .as_str()
            .unwrap()
            .starts_with("http://")
    );
}

#[test]
fn task_lifecycle_through_state_changes() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let mut notices = server.store.subscribe();
    let out = server.boto3(
        r#"
ecs.create_cluster(clusterName='default')
ci = register_instance()
arn = ci['containerInstanceArn']
ecs.register_task_definition(family='job', containerDefinitions=[
    {'name': 'main', 'image': 'ecs-test/busybox:latest', 'memory': 1536, 'cpu': 512,
     'portMappings': [{'containerPort': 8080}]},
    {'name': 'helper', 'image': 'ecs-test/busybox:latest', 'memoryReservation': 256, 'essential': False}])

run = ecs.run_task(taskDefinition='job', count=2, group='batch', startedBy='boto3',
                   tags=[{'key': 'k', 'value': 'v'}])
assert run['failures'] == [], run['failures']
tasks = run['tasks']
assert len(tasks) == 2
for t in tasks:
    assert t['lastStatus'] == 'PENDING' and t['desiredStatus'] == 'RUNNING'
    assert t['containerInstanceArn'] == arn
    assert t['group'] == 'batch' and t['startedBy'] == 'boto3'
    assert t['tags'] == [{'key': 'k', 'value': 'v'}]
    assert t['memory'] == '1792' and t['cpu'] == '512'

# Two tasks hold 2 x 1792 MiB of 4096: a third does not fit.
third = ecs.run_task(taskDefinition='job')
assert third['tasks'] == []
assert third['failures'] == [{'arn': arn, 'reason': 'RESOURCE:MEMORY'}], third['failures']
ci = ecs.describe_container_instances(containerInstances=[arn])['containerInstances'][0]
remaining = {r['name']: r for r in ci['remainingResources']}
assert remaining['MEMORY']['integerValue'] == 4096 - 2 * 1792, remaining
assert remaining['CPU']['integerValue'] == 2048 - 2 * 512, remaining
assert ci['pendingTasksCount'] == 2

task = tasks[0]['taskArn']
other = tasks[1]['taskArn']
# The agent reports the digests (PENDING), then RUNNING with bindings, then STOPPED.
ecs.submit_task_state_change(cluster='default', task=task, status='PENDING', reason='',
    containers=[{'containerName': 'main', 'imageDigest': 'sha256:' + 'a' * 64, 'status': 'PENDING'}])
ecs.submit_task_state_change(cluster='default', task=task, status='RUNNING', reason='',
    pullStartedAt=1717171701.25, pullStoppedAt=1717171709.88,
    containers=[
        {'containerName': 'main', 'runtimeId': 'c0ffee', 'status': 'RUNNING',
         'networkBindings': [{'bindIP': '0.0.0.0', 'containerPort': 8080, 'hostPort': 32768, 'protocol': 'tcp'}]},
        {'containerName': 'helper', 'runtimeId': 'beef', 'status': 'RUNNING'}])
t = ecs.describe_tasks(tasks=[task])['tasks'][0]
assert t['lastStatus'] == 'RUNNING', t
main = [c for c in t['containers'] if c['name'] == 'main'][0]
assert main['lastStatus'] == 'RUNNING' and main['runtimeId'] == 'c0ffee'
assert main['imageDigest'] == 'sha256:' + 'a' * 64
assert main['networkBindings'][0]['hostPort'] == 32768
assert int(t['pullStartedAt'].timestamp()) == 1717171701
assert 'startedAt' in t and t['connectivity'] == 'CONNECTED'
# A late, repeated PENDING never moves the task back.
ecs.submit_task_state_change(cluster='default', task=task, status='PENDING', reason='')
assert ecs.describe_tasks(tasks=[task])['tasks'][0]['lastStatus'] == 'RUNNING'
assert ecs.describe_clusters()['clusters'][0]['runningTasksCount'] == 1

stop = ecs.stop_task(task=task, reason='enough')['task']
assert stop['desiredStatus'] == 'STOPPED' and stop['lastStatus'] == 'RUNNING'
assert stop['stopCode'] == 'UserInitiated' and stop['stoppedReason'] == 'enough'
ecs.submit_task_state_change(cluster='default', task=task, status='STOPPED', reason='',
    executionStoppedAt=1717172001.004,
    containers=[{'containerName': 'main', 'runtimeId': 'c0ffee', 'status': 'STOPPED', 'exitCode': 137},
                {'containerName': 'helper', 'runtimeId': 'beef', 'status': 'STOPPED', 'exitCode': 0}])
t = ecs.describe_tasks(tasks=[task])['tasks'][0]
assert t['lastStatus'] == 'STOPPED' and 'stoppedAt' in t
assert t['stoppedReason'] == 'enough' and t['stopCode'] == 'UserInitiated'
exits = {c['name']: c['exitCode'] for c in t['containers']}
assert exits == {'main': 137, 'helper': 0}, exits

# The other task stops by itself: its essential container exited.
ecs.submit_task_state_change(cluster='default', task=other, status='RUNNING', reason='')
ecs.submit_container_state_change(cluster='default', task=other, containerName='main',
    status='STOPPED', exitCode=3, reason='boom')
ecs.submit_task_state_change(cluster='default', task=other, status='STOPPED', reason='')
o = ecs.describe_tasks(tasks=[other], include=['TAGS'])['tasks'][0]
assert o['stopCode'] == 'EssentialContainerExited', o
assert o['stoppedReason'] == 'Essential container in task exited'
main = [c for c in o['containers'] if c['name'] == 'main'][0]
assert main['exitCode'] == 3 and main['reason'] == 'boom'
assert o['tags'] == [{'key': 'k', 'value': 'v'}]

# Stopped tasks free their resources; unknown tasks are still acknowledged.
ci = ecs.describe_container_instances(containerInstances=[arn])['containerInstances'][0]
assert {r['name']: r for r in ci['remainingResources']}['MEMORY']['integerValue'] == 4096
ack = ecs.submit_task_state_change(cluster='default', task=arn.replace('container-instance', 'task'), status='RUNNING')
ecs.submit_attachment_state_changes(cluster='default', attachments=[{'attachmentArn': 'arn:aws:ecs:us-east-1:111122223333:attachment/x', 'status': 'ATTACHED'}])
assert ecs.list_tasks()['taskArns'] == []
assert sorted(ecs.list_tasks(desiredStatus='STOPPED')['taskArns']) == sorted([task, other])
assert ecs.list_tasks(family='job', desiredStatus='STOPPED', containerInstance=arn)['taskArns']

# StartTask places on a chosen instance, or says why not.
started = ecs.start_task(taskDefinition='job', containerInstances=[arn, 'nope'])
assert len(started['tasks']) == 1 and started['failures'][0]['reason'] == 'MISSING', started
done({'instance': arn, 'tasks': [task, other, started['tasks'][0]['taskArn']]})
"#,
    );
    // The ACS side is told about each placement and each stop, per instance.
    let mut seen = Vec::new();
    while let Ok(notice) = notices.try_recv() {
        assert_eq!(
            notice.container_instance_arn,
            out["instance"].as_str().unwrap()
        );
        seen.push(notice.task_arn);
    }
    let tasks: Vec<String> = serde_json::from_value(out["tasks"].clone()).unwrap();
    assert_eq!(
        seen,
        vec![
            tasks[0].clone(),
            tasks[1].clone(),
            tasks[0].clone(),
            tasks[2].clone()
        ]
    );
    let on_instance = server
        .store
        .tasks_on_instance(out["instance"].as_str().unwrap());
    assert_eq!(on_instance.len(), 3);
}

#[test]
fn attributes_tags_draining_and_deregistration() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    server.boto3(
        r#"
ecs.create_cluster(clusterName='default')
arn = register_instance()['containerInstanceArn']
cluster_arn = 'arn:aws:ecs:us-east-1:111122223333:cluster/default'

put = ecs.put_attributes(attributes=[{'name': 'stack', 'value': 'blue', 'targetId': arn}])
assert put['attributes'][0]['targetId'] == arn
listed = ecs.list_attributes(targetType='container-instance', attributeName='stack')['attributes']
assert listed == [{'name': 'stack', 'value': 'blue', 'targetType': 'container-instance', 'targetId': arn}], listed
every = ecs.list_attributes(targetType='container-instance')['attributes']
assert len(every) == len(AGENT_ATTRIBUTES) + 1
ecs.delete_attributes(attributes=[{'name': 'stack', 'targetId': arn}])
assert ecs.list_attributes(targetType='container-instance', attributeName='stack')['attributes'] == []
expect_error('TargetNotFoundException', ecs.put_attributes,
             attributes=[{'name': 'x', 'value': 'y', 'targetId': 'ffffffffffffffffffffffffffffffff'}])

ecs.tag_resource(resourceArn=cluster_arn, tags=[{'key': 'a', 'value': '1'}, {'key': 'b', 'value': '2'}])
ecs.tag_resource(resourceArn=cluster_arn, tags=[{'key': 'a', 'value': '3'}])
ecs.untag_resource(resourceArn=cluster_arn, tagKeys=['b'])
assert ecs.list_tags_for_resource(resourceArn=cluster_arn)['tags'] == [{'key': 'a', 'value': '3'}]
ecs.tag_resource(resourceArn=arn, tags=[{'key': 'role', 'value': 'worker'}])
assert ecs.list_tags_for_resource(resourceArn=arn)['tags'] == [{'key': 'role', 'value': 'worker'}]
expect_error('ResourceNotFoundException', ecs.list_tags_for_resource,
             resourceArn='arn:aws:ecs:us-east-1:111122223333:cluster/none')
expect_error('InvalidParameterException', ecs.tag_resource, resourceArn='not-an-arn', tags=[{'key': 'a', 'value': 'b'}])

ecs.register_task_definition(family='tiny', containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 16}])
drained = ecs.update_container_instances_state(containerInstances=[arn], status='DRAINING')
assert drained['containerInstances'][0]['status'] == 'DRAINING'
assert ecs.list_container_instances(status='DRAINING')['containerInstanceArns'] == [arn]
# A draining instance takes no new tasks.
expect_error('InvalidParameterException', ecs.run_task, taskDefinition='tiny')
ecs.update_container_instances_state(containerInstances=[arn], status='ACTIVE')
task = ecs.run_task(taskDefinition='tiny')['tasks'][0]['taskArn']

expect_error('InvalidParameterException', ecs.deregister_container_instance, containerInstance=arn)
gone = ecs.deregister_container_instance(containerInstance=arn, force=True)['containerInstance']
assert gone['status'] == 'INACTIVE'
assert ecs.list_container_instances()['containerInstanceArns'] == []
assert ecs.describe_tasks(tasks=[task])['tasks'][0]['desiredStatus'] == 'STOPPED'
# Its orphaned task has no agent to report it: the cluster can still be deleted.
assert ecs.delete_cluster(cluster='default')['cluster']['status'] == 'INACTIVE'
done()
"#,
    );
}

#[test]
fn errors_map_to_botocore_exceptions() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    server.boto3(
        r#"
try:
    ecs.list_container_instances(cluster='missing')
    raise AssertionError('expected an error')
except ecs.exceptions.ClusterNotFoundException as e:
    assert e.response['Error']['Code'] == 'ClusterNotFoundException'
    assert e.response['ResponseMetadata']['HTTPStatusCode'] == 400
    assert e.response['Error']['Message'] == 'Cluster not found.'
d = ecs.describe_clusters(clusters=['missing'])
assert d['failures'][0]['reason'] == 'MISSING' and d['clusters'] == []

ecs.create_cluster()
e = expect_error('ClientException', ecs.register_task_definition, family='f',
                 containerDefinitions=[{'name': 'c', 'image': 'i'}])
assert 'memory' in str(e)
expect_error('ClientException', ecs.register_task_definition, family='bad family!',
             containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 1}])
expect_error('ClientException', ecs.register_task_definition, family='f',
             containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 1}, {'name': 'c', 'image': 'i', 'memory': 1}])
expect_error('ClientException', ecs.run_task, taskDefinition='nothing')
expect_error('InvalidParameterException', ecs.run_task, taskDefinition='nothing', count=11)
expect_error('InvalidParameterException', ecs.list_tasks, desiredStatus='PENDING', maxResults=1000)
expect_error('InvalidParameterException', ecs.update_container_instances_state,
             containerInstances=['x'], status='REGISTERING')
expect_error('ClientException', ecs.deregister_task_definition, taskDefinition='f')
try:
    ecs.create_service(serviceName='s', taskDefinition='f')
    raise AssertionError('expected an error')
except botocore.exceptions.ClientError as e:
    assert e.response['Error']['Code'] == 'UnknownOperationException'
    assert 'CreateService' in e.response['Error']['Message']
done()
"#,
    );
}

#[test]
fn every_output_matches_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    // Each call's response is checked against botocore's output shape by the prelude.
    server.boto3(
        r#"
ecs.create_cluster(clusterName='shapes', tags=[{'key': 'a', 'value': 'b'}],
                   settings=[{'name': 'containerInsights', 'value': 'enabled'}])
ecs.describe_clusters(clusters=['shapes'], include=['ATTACHMENTS', 'CONFIGURATIONS', 'SETTINGS', 'STATISTICS', 'TAGS'])
ecs.list_clusters(maxResults=1)
td = ecs.register_task_definition(
    family='shapes', networkMode='host', cpu='256', memory='512',
    requiresCompatibilities=['EC2'], tags=[{'key': 't', 'value': 'd'}],
    volumes=[{'name': 'data', 'host': {'sourcePath': '/tmp'}}],
    containerDefinitions=[{
        'name': 'c', 'image': 'i', 'essential': True, 'command': ['sh'],
        'portMappings': [{'containerPort': 9000}],
        'environment': [{'name': 'A', 'value': '1'}],
        'mountPoints': [{'sourceVolume': 'data', 'containerPath': '/data'}],
        'healthCheck': {'command': ['CMD', 'true'], 'interval': 5},
        'ulimits': [{'name': 'nofile', 'softLimit': 1024, 'hardLimit': 2048}],
        'logConfiguration': {'logDriver': 'json-file', 'options': {'max-size': '1m'}},
        'dockerLabels': {'x': 'y'}}])['taskDefinition']
assert td['containerDefinitions'][0]['portMappings'][0]['hostPort'] == 9000
ecs.describe_task_definition(taskDefinition=td['taskDefinitionArn'], include=['TAGS'])
ecs.list_task_definitions(familyPrefix='shapes', status='ACTIVE', sort='ASC')
ecs.list_task_definition_families(familyPrefix='sha', status='ACTIVE')
arn = register_instance(cluster='shapes')['containerInstanceArn']
ecs.list_container_instances(cluster='shapes', status='ACTIVE')
ecs.describe_container_instances(cluster='shapes', containerInstances=[arn], include=['TAGS', 'CONTAINER_INSTANCE_HEALTH'])
ecs.discover_poll_endpoint(cluster='shapes', containerInstance=arn)
task = ecs.run_task(cluster='shapes', taskDefinition='shapes', propagateTags='TASK_DEFINITION',
                    enableExecuteCommand=True)['tasks'][0]
assert task['tags'] == [{'key': 't', 'value': 'd'}], task['tags']
ecs.submit_task_state_change(cluster='shapes', task=task['taskArn'], status='RUNNING', reason='',
    containers=[{'containerName': 'c', 'status': 'RUNNING', 'runtimeId': 'r',
                 'networkBindings': [{'bindIP': '0.0.0.0', 'containerPort': 9000, 'hostPort': 9000, 'protocol': 'tcp'}]}])
ecs.describe_tasks(cluster='shapes', tasks=[task['taskArn']], include=['TAGS'])
ecs.list_tasks(cluster='shapes', family='shapes', startedBy='nobody', launchType='EC2')
ecs.stop_task(cluster='shapes', task=task['taskArn'])
ecs.submit_task_state_change(cluster='shapes', task=task['taskArn'], status='STOPPED', reason='CannotPullContainerError: nope')
ecs.list_attributes(cluster='shapes', targetType='container-instance', maxResults=2)
ecs.list_tags_for_resource(resourceArn=td['taskDefinitionArn'])
ecs.deregister_task_definition(taskDefinition=td['taskDefinitionArn'])
ecs.list_task_definition_families(status='INACTIVE')
ecs.deregister_container_instance(cluster='shapes', containerInstance=arn)
ecs.delete_cluster(cluster='shapes')
assert ecs.describe_clusters(clusters=['shapes'])['clusters'][0]['status'] == 'INACTIVE'
done()
"#,
    );
}

#[test]
fn concurrent_run_tasks_never_overcommit_an_instance() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let placed = server.boto3(
        r#"
from concurrent.futures import ThreadPoolExecutor
ecs.create_cluster()
arn = register_instance()['containerInstanceArn']
# 4096 MiB of memory: room for exactly five 800 MiB tasks.
ecs.register_task_definition(family='fat', containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 800}])
def run(_):
    client = boto3.client('ecs', endpoint_url=os.environ['ECS_LOCAL_ENDPOINT'], region_name='us-east-1',
                          config=Config(retries={'max_attempts': 1}))
    return client.run_task(taskDefinition='fat')
with ThreadPoolExecutor(max_workers=8) as pool:
    results = list(pool.map(run, range(16)))
placed = sum(len(r['tasks']) for r in results)
refused = [f['reason'] for r in results for f in r['failures']]
assert set(refused) == {'RESOURCE:MEMORY'}, refused
ci = ecs.describe_container_instances(containerInstances=[arn])['containerInstances'][0]
left = {r['name']: r for r in ci['remainingResources']}['MEMORY']['integerValue']
assert left == 4096 - placed * 800, (left, placed)
done(placed)
"#,
    );
    assert_eq!(placed, 5);
}

#[test]
fn placement_constraints_strategies_and_filters() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    server.boto3(
        r#"
ecs.create_cluster()
blue = register_instance()['containerInstanceArn']
green = register_instance()['containerInstanceArn']
ecs.put_attributes(attributes=[{'name': 'stack', 'value': 'blue', 'targetId': blue},
                               {'name': 'stack', 'value': 'green', 'targetId': green}])
ecs.register_task_definition(family='p', containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 64}])

on_blue = ecs.run_task(taskDefinition='p', count=2,
                       placementConstraints=[{'type': 'memberOf', 'expression': 'attribute:stack == blue'}])
assert [t['containerInstanceArn'] for t in on_blue['tasks']] == [blue, blue], on_blue

spread = ecs.run_task(taskDefinition='p', group='spread', count=2,
                      placementStrategy=[{'type': 'spread', 'field': 'instanceId'}])
assert sorted(t['containerInstanceArn'] for t in spread['tasks']) == sorted([blue, green])

distinct = ecs.run_task(taskDefinition='p', group='solo', count=3,
                        placementConstraints=[{'type': 'distinctInstance'}])
assert len(distinct['tasks']) == 2, distinct
assert {f['reason'] for f in distinct['failures']} == {'DISTINCT_INSTANCE'}, distinct['failures']

nowhere = ecs.run_task(taskDefinition='p',
                       placementConstraints=[{'type': 'memberOf', 'expression': 'attribute:stack == red'}])
assert nowhere['tasks'] == [] and {f['reason'] for f in nowhere['failures']} == {'ATTRIBUTE'}

assert ecs.list_container_instances(filter='attribute:stack == green')['containerInstanceArns'] == [green]
assert ecs.list_container_instances(filter='attribute:stack in [blue, green]')['containerInstanceArns'] == sorted([blue, green])
expect_error('InvalidParameterException', ecs.list_container_instances, filter='attribute:stack ==')
expect_error('InvalidParameterException', ecs.run_task, taskDefinition='p',
             placementStrategy=[{'type': 'binpack', 'field': 'disk'}])
done()
"#,
    );
}
