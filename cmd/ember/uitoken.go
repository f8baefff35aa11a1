package main

import (
	"errors"
	"fmt"

	"github.com/ember-go/ember/internal/auth"
	"github.com/spf13/cobra"
)

func newUIToken() *cobra.Command {
	var secretFile string
	cmd := &cobra.Command{
		Use:   "ui-token",
		Short: "Print the token that status servers beyond loopback ask for",
		Long: `Print the token that a driver's web UI and an executor's /metrics ask of
their readers when they listen beyond loopback (ui.bind, --metrics-bind):
derived one way from the cluster secret, so that it reveals nothing of it.
Send it as a bearer token (Prometheus: authorization.credentials), or open
http://HOST:PORT/?token=TOKEN once in a browser.

The secret comes from --secret-file or the EMBER_SECRET environment variable.

Examples:
  ember ui-token --secret-file /etc/ember/secret
  curl -H "Authorization: Bearer $(ember ui-token --secret-file s)" http://10.0.0.5:4040/api/v1/jobs`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			secret, err := auth.ReadSecret(secretFile, "--secret-file")
			if err != nil {
				return err
			}
			if len(secret) == 0 {
				return errors.New("ember ui-token: no secret: give --secret-file or set EMBER_SECRET")
			}
			token, err := auth.UIToken(secret)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), token)
			return nil
		},
	}
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "file holding the cluster secret (or set EMBER_SECRET)")
	return cmd
}
