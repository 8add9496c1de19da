package cli

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hermes-gateway/hermes/pkg/config"
	"github.com/hermes-gateway/hermes/pkg/install"
	"github.com/hermes-gateway/hermes/pkg/instance"
	"github.com/hermes-gateway/hermes/pkg/telegram"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

func newSetupCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "setup",
		Short: "Connect the gateway to a messaging platform",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, args []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newSetupTelegramCmd(), newSetupMatrixCmd())
	return cmd
}

type telegramSetup struct {
	tokenFile string
	admins    []int64
	apiURL    string
	mode      string
	publicURL string
	listen    string
	noRestart bool
}

func newSetupTelegramCmd() *cobra.Command {
	var s telegramSetup
	cmd := &cobra.Command{
		Use:   "telegram",
		Short: "Check a bot token, save it (mode 0600) and the config, and restart the gateway",
		Long: `Checks the bot token with getMe, writes it to ~/.config/hermes/telegram.token
(mode 0600), enables Telegram in the config with you as admin, and restarts
the gateway through systemd. On a terminal it asks for what the flags do not
give: the token from @BotFather (not echoed) and your Telegram user id.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if s.mode != config.ModePoll && s.mode != config.ModeWebhook {
				return usageError{fmt.Errorf("--mode is poll or webhook, not %q", s.mode)}
			}
			if s.mode == config.ModeWebhook && s.publicURL == "" {
				return usageError{errors.New("--mode webhook needs --public-url, the https URL Telegram should POST to")}
			}
			return setupTelegram(cmd, s)
		},
	}
	cmd.Flags().StringVar(&s.tokenFile, "token-file", "", "read the bot token from this file (default: ask on the terminal)")
	cmd.Flags().Int64SliceVar(&s.admins, "admin", nil, "Telegram user id of an admin (repeatable; default: ask)")
	cmd.Flags().StringVar(&s.apiURL, "api-url", "", "Bot API server (default: the config's, else "+telegram.DefaultAPIURL+")")
	cmd.Flags().StringVar(&s.mode, "mode", config.ModePoll, "poll (getUpdates) or webhook")
	cmd.Flags().StringVar(&s.publicURL, "public-url", "", "webhook mode: the public https URL Telegram POSTs to")
	cmd.Flags().StringVar(&s.listen, "listen", "", "webhook mode: the local address the webhook socket listens on (default 127.0.0.1:8443)")
	cmd.Flags().BoolVar(&s.noRestart, "no-restart", false, "write the files but do not restart the gateway")
	return cmd
}

func setupTelegram(cmd *cobra.Command, s telegramSetup) error {
	out := cmd.OutOrStdout()
	cfgPath, cfg, in, tty, err := setupInputs(cmd)
	if err != nil {
		return err
	}

	token, err := readToken(s.tokenFile, in, out, tty)
	if err != nil {
		return err
	}
	if other, ok := tokenOwner(token); ok {
		return fmt.Errorf("instance %q already uses this bot (bot id %s): Telegram hands a bot's updates to one poller only, so two gateways on one token would take turns failing with 409 Conflict; create another bot with @BotFather for instance %q, or `hermes %suninstall-unit` first; nothing was changed",
			other.String(), botID(token), instance.CurrentOrDefault().String(), other.Flag())
	}
	apiURL := s.apiURL
	if apiURL == "" {
		apiURL = cfg.Telegram.APIURL
	}
	client, err := telegram.NewClient(token, apiURL, telegram.ClientOptions{})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
	defer cancel()
	me, err := client.GetMe(ctx)
	switch {
	case telegram.IsUnauthorized(err):
		return errors.New("Telegram rejected that token (401): copy it again from @BotFather (/mybots → API Token); nothing was changed")
	case err != nil:
		return fmt.Errorf("could not check the token with %s: %v; check the network (or --api-url); nothing was changed", apiURL, err)
	}
	fmt.Fprintf(out, "✓ token accepted: @%s (%s)\n", me.UserName, me.FirstName)

	admins := s.admins
	if len(admins) == 0 && len(cfg.Telegram.Admins) == 0 {
		if !tty {
			return usageError{errors.New("give your Telegram user id with --admin ID (ask @userinfobot for it)")}
		}
		id, err := ask(in, out, "Your Telegram user id (ask @userinfobot): ")
		if err != nil {
			return err
		}
		n, err := strconv.ParseInt(strings.TrimSpace(id), 10, 64)
		if err != nil || n <= 0 {
			return usageError{fmt.Errorf("%q is not a Telegram user id (a positive number)", id)}
		}
		admins = []int64{n}
	}

	dir := filepath.Dir(cfgPath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tokenPath := filepath.Join(dir, "telegram.token")
	if err := writePrivate(tokenPath, []byte(token+"\n")); err != nil {
		return err
	}
	cfg.Telegram.Enabled = true
	cfg.Telegram.TokenFile = "telegram.token"
	cfg.Telegram.APIURL = apiURL
	cfg.Telegram.Mode = s.mode
	for _, a := range admins {
		if !slices.Contains(cfg.Telegram.Admins, a) {
			cfg.Telegram.Admins = append(cfg.Telegram.Admins, a)
		}
	}
	if s.mode == config.ModeWebhook {
		cfg.Telegram.Webhook.PublicURL = s.publicURL
		if s.listen != "" {
			cfg.Telegram.Webhook.Listen = s.listen
		}
		if cfg.Telegram.Webhook.SecretFile == "" {
			cfg.Telegram.Webhook.SecretFile = "webhook.secret"
		}
		secretPath := cfg.ResolvePath(cfg.Telegram.Webhook.SecretFile)
		if _, err := os.Stat(secretPath); os.IsNotExist(err) {
			if err := writePrivate(secretPath, []byte(newSecret()+"\n")); err != nil {
				return err
			}
		}
	} else if info, err := client.WebhookInfo(ctx); err == nil && info.URL != "" {
		// getUpdates answers 409 while a webhook is set.
		if err := client.DeleteWebhook(ctx); err != nil {
			return fmt.Errorf("a webhook is set (%s) and could not be removed for polling: %v", info.URL, err)
		}
		fmt.Fprintf(out, "✓ removed the webhook (%s): polling from now on\n", info.URL)
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("the new config would not be valid: %w", err)
	}
	data, err := cfg.Marshal()
	if err != nil {
		return err
	}
	if err := writePrivate(cfgPath, data); err != nil {
		return err
	}
	fmt.Fprintf(out, "✓ wrote %s and %s (mode 0600)\n", cfgPath, tokenPath)

	if !s.noRestart {
		if err := applyToGateway(cmd, cfg, out); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "Talk to your bot: https://t.me/%s (send /start). Admins: %v\n", me.UserName, cfg.Telegram.Admins)
	return nil
}

// applyToGateway installs what the new mode needs and restarts the gateway.
func applyToGateway(cmd *cobra.Command, cfg *config.Config, out io.Writer) error {
	ctx, cancel := context.WithTimeout(cmd.Context(), 90*time.Second)
	defer cancel()
	m, err := connect(ctx)
	if err != nil {
		return fmt.Errorf("saved, but the gateway was not restarted: %w", err)
	}
	defer m.Close()
	st, err := m.Unit(ctx, svc())
	if err != nil {
		return err
	}
	if st.LoadState == "not-found" {
		fmt.Fprintf(out, "The units are not installed yet: run `%s` to start the gateway.\n", hermesCmd("install-unit"))
		return nil
	}
	if cfg.Telegram.Mode == config.ModeWebhook {
		files, err := installedFiles(cfg)
		if err == nil {
			for _, f := range files {
				if f.Name == instance.CurrentOrDefault().WebhookSocket() && f.State != install.Current {
					fmt.Fprintf(out, "Webhook mode needs %s: run `%s`.\n", instance.CurrentOrDefault().WebhookSocket(), hermesCmd("install-unit"))
				}
			}
		}
	}
	return restartGateway(ctx, m, out)
}

// setupInputs is what every setup command starts from: the config file
// (which must be valid), the input, and whether it is a terminal to ask on.
func setupInputs(cmd *cobra.Command) (cfgPath string, cfg *config.Config, in *bufio.Reader, tty bool, err error) {
	cfgPath, _ = cmd.Flags().GetString("config")
	if cfgPath == "" {
		cfgPath = config.DefaultPath()
	}
	if cfg, err = config.Load(cfgPath); err != nil {
		return "", nil, nil, false, fmt.Errorf("the current config is not valid, fix it first: %w", err)
	}
	return cfgPath, cfg, bufio.NewReader(cmd.InOrStdin()), isTerminal(os.Stdin) && cmd.InOrStdin() == os.Stdin, nil
}

// readSecret reads a secret from a file or, on a terminal, without echo
// (prompt names it). Never from an argument: arguments show in ps.
func readSecret(file, prompt, what string, out io.Writer, tty bool) (string, error) {
	switch {
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("read the %s: %w", what, err)
		}
		return strings.TrimSpace(string(b)), nil
	case tty:
		fmt.Fprint(out, prompt+" (not shown): ")
		t, err := readHidden(int(os.Stdin.Fd()))
		fmt.Fprintln(out)
		return strings.TrimSpace(t), err
	default:
		return "", usageError{fmt.Errorf("give the %s with --token-file FILE (it is never taken as an argument: arguments show in ps)", what)}
	}
}

func readToken(file string, in *bufio.Reader, out io.Writer, tty bool) (string, error) {
	token, err := readSecret(file, "Bot token from @BotFather", "token", out, tty)
	if err != nil {
		return "", err
	}
	if id, secret, ok := strings.Cut(token, ":"); !ok || id == "" || len(secret) < 30 {
		return "", errors.New("that does not look like a bot token (digits, a colon, then 35 or so characters); copy it again from @BotFather")
	}
	return token, nil
}

// readHidden reads a line from the terminal with echo off.
func readHidden(fd int) (string, error) {
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return "", err
	}
	quiet := *old
	quiet.Lflag &^= unix.ECHO
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &quiet); err != nil {
		return "", err
	}
	defer unix.IoctlSetTermios(fd, unix.TCSETS, old)
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return line, nil
}

func ask(in *bufio.Reader, out io.Writer, prompt string) (string, error) {
	fmt.Fprint(out, prompt)
	line, err := in.ReadString('\n')
	if err != nil && line == "" {
		return "", err
	}
	return strings.TrimSpace(line), nil
}

func newSecret() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// writePrivate writes a file readable by its owner only, atomically.
func writePrivate(path string, data []byte) error { return install.WriteAtomic(path, data, 0o600) }
