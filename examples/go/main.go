// A Go client of rigger.v1.RiggerService on code generated from proto/rigger/v1/rigger.proto
// (examples/go/build.sh generates it and builds this): add a task, list the assignee's tasks, then
// print the first events of the log and stop.
//
//	examples/go/build.sh && examples/go/build/rigger-go-client -address localhost:50051 -events 3
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	riggerv1 "rigger.dev/gen/go/rigger/v1"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

func main() {
	address := flag.String("address", envOr("RIGGER_ADDRESS", "localhost:50051"), "host:port of the server (rig grpc) [env RIGGER_ADDRESS]")
	events := flag.Int("events", 3, "stop after printing this many events")
	assignee := flag.String("assignee", "Gopher", "assignee of the task this client adds")
	timeout := flag.Duration("timeout", 30*time.Second, "give up after this long")
	flag.Parse()
	if err := run(*address, *assignee, *events, *timeout); err != nil {
		fmt.Fprintf(os.Stderr, "rigger-go-client: %v\n", err)
		os.Exit(1)
	}
}

func run(address, assignee string, events int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	// Sent as metadata rather than per-RPC credentials, which grpc-go allows over TLS only.
	if token := os.Getenv("RIGGER_TOKEN"); token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
	}
	// Plaintext, as `rig grpc` serves by default. WithInsecure is what grpc-go 1.33 (Debian 12) has;
	// newer releases also offer grpc.WithTransportCredentials(insecure.NewCredentials()).
	conn, err := grpc.DialContext(ctx, address, grpc.WithInsecure(), grpc.WithBlock())
	if err != nil {
		return fmt.Errorf("cannot connect to %s: %w", address, err)
	}
	defer conn.Close()
	client := riggerv1.NewRiggerServiceClient(conn)

	added, err := client.AddTask(ctx, &riggerv1.AddTaskRequest{Title: "Written from Go", Assignee: proto.String(assignee)})
	if err != nil {
		return fmt.Errorf("AddTask: %w", err)
	}
	fmt.Printf("added %s version %d\n", added.GetTask().GetId(), added.GetTask().GetVersion())

	listed, err := client.ListTasks(ctx, &riggerv1.ListTasksRequest{Assignee: proto.String(assignee), Limit: proto.Uint32(10)})
	if err != nil {
		return fmt.Errorf("ListTasks: %w", err)
	}
	fmt.Printf("%s has %d task(s)\n", assignee, listed.GetTotalCount())

	// since_sequence 0: every event the server still holds, then live ones.
	stream, err := client.SubscribeToTaskEvents(ctx, &riggerv1.SubscribeToTaskEventsRequest{SinceSequence: proto.Uint64(0)})
	if err != nil {
		return fmt.Errorf("SubscribeToTaskEvents: %w", err)
	}
	for printed := 0; printed < events; printed++ {
		event, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return errors.New("the server ended the stream")
		}
		if err != nil {
			return fmt.Errorf("SubscribeToTaskEvents: %w", err)
		}
		fmt.Printf("#%d %s %s %s\n", event.GetSequence(), event.GetEventType(), event.GetTask().GetTitle(), event.GetTask().GetStatus())
	}
	return nil
}

func envOr(name, fallback string) string {
	if value := os.Getenv(name); value != "" {
		return value
	}
	return fallback
}
