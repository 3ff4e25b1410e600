package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/topic"
	"github.com/imcallback/imcallback/config"
)

func newTopicsCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{Use: "topics", Short: "Read the topics synced from topic callbacks"}
	var group string
	var asJSON, includeDeleted bool
	list := &cobra.Command{
		Use:   "list",
		Short: "List synced topics",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			return withStore(c.Context(), g, func(ctx context.Context, s topic.Store) error {
				topics, err := s.List(ctx, topic.ListFilter{GroupID: group, IncludeDeleted: includeDeleted})
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(c.OutOrStdout(), topic.ListResponse{Topics: topics})
				}
				return writeTopicTable(c.OutOrStdout(), topics)
			})
		},
	}
	list.Flags().StringVar(&group, "group", "", "only topics of this GroupId")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON, as the admin API does")
	list.Flags().BoolVar(&includeDeleted, "include-deleted", false, "include deleted topics")
	get := &cobra.Command{
		Use:   "get <TopicId>",
		Short: "Print one topic as JSON",
		Args:  cobra.ExactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return withStore(c.Context(), g, func(ctx context.Context, s topic.Store) error {
				t, err := s.Get(ctx, args[0])
				if err != nil {
					return fmt.Errorf("topic %s: %w", args[0], err)
				}
				return writeJSON(c.OutOrStdout(), t)
			})
		},
	}
	cmd.AddCommand(list, get)
	return cmd
}

// withStore opens the configured topic store for a command-line tool. The
// SdkAppid is not needed to read, so a missing one is not an error here.
func withStore(ctx context.Context, g *globalFlags, fn func(context.Context, topic.Store) error) error {
	src := g.source()
	src.Dev = true
	cfg, err := config.Load(src)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	s, err := topic.OpenStore(ctx, cfg.StoreDSN, cfg.DataDir, zap.NewNop())
	if err != nil {
		return err
	}
	defer s.Close()
	return fn(ctx, s)
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func writeTopicTable(w io.Writer, topics []topic.Topic) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC ID\tGROUP ID\tNAME\tOWNER\tCREATED\tDELETED")
	for _, t := range topics {
		deleted := "-"
		if t.DeletedAt != nil {
			deleted = t.DeletedAt.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", t.TopicID, t.GroupID, t.Name, t.OwnerAccount,
			t.CreatedAt.Format(time.RFC3339), deleted)
	}
	return tw.Flush()
}
