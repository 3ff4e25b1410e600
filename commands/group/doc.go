// Package group holds the typed payloads, reply fields and command
// descriptors of the Group.* callbacks, community topics included
// (docs/protocol.md §4.6). Register a handler without naming the command:
//
//	group.AfterCreateTopicCommand.Handle(func(ctx context.Context, ev *dispatcher.Event[group.AfterCreateTopic]) error { … })
package group
