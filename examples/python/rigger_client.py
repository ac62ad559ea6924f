#!/usr/bin/env python3
"""A Python client of rigger.v1.RiggerService: add a task, move it, list, then follow the events.

Generate the stubs first (examples/python/generate_stubs.sh), then:
    PYTHONPATH=examples/python /usr/bin/python3 examples/python/rigger_client.py localhost:50051 --events 3

The event loop resumes after a lost connection or a server restart with since_sequence = the last
sequence it printed, so it neither misses nor repeats an event; OUT_OF_RANGE (history gone) and
other errors end it.
"""
import argparse
import sys
import time

import grpc

from rigger.v1 import rigger_pb2, rigger_pb2_grpc


def follow(stub, since, limit, max_retries=10):
    """Prints events after `since` until `limit` have been printed; resumes on UNAVAILABLE."""
    printed, retries = 0, 0
    while printed < limit:
        request = rigger_pb2.SubscribeToTaskEventsRequest(since_sequence=since)
        try:
            for event in stub.SubscribeToTaskEvents(request):
                retries = 0
                since = event.sequence
                print(f"#{event.sequence} {rigger_pb2.TaskEventType.Name(event.event_type)} "
                      f"{event.task.title} {rigger_pb2.TaskStatus.Name(event.task.status)}", flush=True)
                printed += 1
                if printed >= limit:
                    return
        except grpc.RpcError as error:
            if error.code() != grpc.StatusCode.UNAVAILABLE or retries >= max_retries:
                raise
            retries += 1
            time.sleep(min(5.0, 0.1 * 2 ** retries))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("address", nargs="?", default="localhost:50051")
    parser.add_argument("--events", type=int, default=3, help="stop after printing this many events")
    args = parser.parse_args()

    with grpc.insecure_channel(args.address) as channel:
        stub = rigger_pb2_grpc.RiggerServiceStub(channel)
        task = stub.AddTask(rigger_pb2.AddTaskRequest(title="Written from Python", assignee="Alice")).task
        print(f"added {task.id} version {task.version}")
        task = stub.UpdateTask(rigger_pb2.UpdateTaskRequest(
            task_id=task.id, status=rigger_pb2.TASK_STATUS_IN_PROGRESS)).task
        print(f"now {rigger_pb2.TaskStatus.Name(task.status)}")
        listed = stub.ListTasks(rigger_pb2.ListTasksRequest(assignee="Alice", limit=10))
        print(f"Alice has {listed.total_count} task(s)")
        try:
            follow(stub, since=0, limit=args.events)
        except grpc.RpcError as error:
            print(f"subscription ended: {error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
