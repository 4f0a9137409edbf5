//! A restart on the same data directory loses nothing that was acknowledged.

mod api_support;

use api_support::TestServer;

#[test]
fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start(dir.path());
    let before = server.boto3(
        r#"
ecs.create_cluster(clusterName='keep', tags=[{'key': 'a', 'value': 'b'}])
arn = register_instance(cluster='keep')['containerInstanceArn']
ecs.put_attributes(cluster='keep', attributes=[{'name': 'stack', 'value': 'blue', 'targetId': arn}])
ecs.register_task_definition(family='svc', containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 128}])
ecs.register_task_definition(family='svc', containerDefinitions=[{'name': 'c', 'image': 'i', 'memory': 256}])
ecs.deregister_task_definition(taskDefinition='svc:1')
task = ecs.run_task(cluster='keep', taskDefinition='svc')['tasks'][0]['taskArn']
ecs.submit_task_state_change(cluster='keep', task=task, status='RUNNING', reason='',
    containers=[{'containerName': 'c', 'runtimeId': 'abc', 'status': 'RUNNING'}])
done({'instance': arn, 'task': task})
"#,
    );
    // Mark the agent connected: a restart must show it disconnected.
    let instance = before["instance"].as_str().unwrap().to_string();
    server.store.set_agent_connected(&instance, true).unwrap();
    assert!(
        server
            .store
            .container_instance(&instance)
            .unwrap()
            .agent_connected
    );
    server.stop();

    let server = TestServer::start(dir.path());
    let script = format!(
        r#"
instance, task = {instance:?}, {task:?}
assert ecs.list_clusters()['clusterArns'] == ['arn:aws:ecs:us-east-1:111122223333:cluster/keep']
c = ecs.describe_clusters(clusters=['keep'], include=['TAGS'])['clusters'][0]
assert c['tags'] == [{{'key': 'a', 'value': 'b'}}] and c['runningTasksCount'] == 1, c
ci = ecs.describe_container_instances(cluster='keep', containerInstances=[instance])['containerInstances'][0]
assert ci['agentConnected'] is False
assert {{'name': 'stack', 'value': 'blue'}} in ci['attributes']
mem = {{r['name']: r for r in ci['remainingResources']}}['MEMORY']['integerValue']
assert mem == 4096 - 256, mem
t = ecs.describe_tasks(cluster='keep', tasks=[task])['tasks'][0]
assert t['lastStatus'] == 'RUNNING' and t['containers'][0]['runtimeId'] == 'abc', t
assert ecs.describe_task_definition(taskDefinition='svc')['taskDefinition']['revision'] == 2
assert ecs.describe_task_definition(taskDefinition='svc:1')['taskDefinition']['status'] == 'INACTIVE'
# Revisions keep counting from where they were.
r = ecs.register_task_definition(family='svc', containerDefinitions=[{{'name': 'c', 'image': 'i', 'memory': 64}}])
assert r['taskDefinition']['revision'] == 3
# The agent was connected before the restart and has not come back: no new work for it.
gone = ecs.run_task(cluster='keep', taskDefinition='svc')
assert gone['tasks'] == [] and gone['failures'] == [{{'arn': instance, 'reason': 'AGENT'}}], gone
started = ecs.start_task(cluster='keep', taskDefinition='svc', containerInstances=[instance])
assert started['failures'] == [{{'arn': instance, 'reason': 'AGENT'}}], started
# It registers again (as an agent does on start) and takes tasks again.
again = register_instance(cluster='keep', containerInstanceArn=instance)
assert again['containerInstanceArn'] == instance
assert len(ecs.run_task(cluster='keep', taskDefinition='svc')['tasks']) == 1
done()
"#,
        instance = instance,
        task = before["task"].as_str().unwrap(),
    );
    server.boto3(&script);
}
