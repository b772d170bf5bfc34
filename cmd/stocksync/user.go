package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"stocksync/ledger"
)

// userCommand is the configuration of 'stocksync user ...': the people who
// sign in to a tenant's web console.
type userCommand struct {
	// Tenant is the tenant's slug.
	Tenant string
	// Login, Name and Role describe the user that create makes.
	Login string
	Name  string
	Role  string
	// PasswordFile holds the new user's password on its first line; when
	// empty, the password is the first line of stdin.
	PasswordFile string
	JSON         bool
}

func (m *Main) userFlags(fs *flag.FlagSet) {
	c := &m.user
	fs.StringVar(&c.Tenant, "tenant", "", "the tenant's slug")
	fs.StringVar(&c.Login, "login", "", "create: the login the user signs in with (case-insensitive)")
	fs.StringVar(&c.Name, "name", "", "create: the display name shown in the audit trail (default: the login)")
	fs.StringVar(&c.Role, "role", "", "create: admin, manager or staff")
	fs.StringVar(&c.PasswordFile, "password-file", "", "create: a file whose first line is the password (default: the first line of stdin)")
	fs.BoolVar(&c.JSON, "json", false, "print the result as JSON")
}

// validate checks the user command's words and flags, reporting every
// problem at once.
func (c *userCommand) validate(args []string) []error {
	if len(args) == 0 {
		return []error{errors.New("user needs an action: create or list")}
	}
	if args[0] != "create" && args[0] != "list" {
		return []error{fmt.Errorf("unknown user action %q: use create or list", args[0])}
	}
	if len(args) != 1 {
		return []error{fmt.Errorf("user %s takes flags, not words: got %q", args[0], args[1:])}
	}
	var errs []error
	if c.Tenant == "" {
		errs = append(errs, errors.New("--tenant is required: the slug of the user's tenant"))
	}
	if args[0] == "create" {
		if strings.TrimSpace(c.Login) == "" {
			errs = append(errs, errors.New("--login is required"))
		}
		if r := ledger.Role(c.Role); r != ledger.RoleAdmin && r != ledger.RoleManager && r != ledger.RoleStaff {
			errs = append(errs, fmt.Errorf("--role must be admin, manager or staff, got %q", c.Role))
		}
	}
	return errs
}

func (m *Main) runUser(ctx context.Context) error {
	if _, err := m.open(ctx, true); err != nil {
		return err
	}
	t, err := m.ledger.TenantBySlug(ctx, m.user.Tenant)
	if err != nil {
		return fmt.Errorf("tenant %q: %w", m.user.Tenant, err)
	}
	if m.Args[0] == "create" {
		return m.userCreate(ctx, t)
	}
	return m.userList(ctx, t)
}

// userCreate creates a console user. The password is read from a file or
// stdin, never from the command line, where other users of the machine
// and the shell's history would see it.
func (m *Main) userCreate(ctx context.Context, t ledger.Tenant) error {
	password, err := m.userPassword()
	if err != nil {
		return err
	}
	c := m.user
	u, err := m.ledger.CreateUser(ctx, t.ID, ledger.UserInput{Login: c.Login, Name: c.Name, Role: ledger.Role(c.Role), Password: password})
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInvalid {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return fmt.Errorf("create user %q in tenant %q: %w", c.Login, t.Slug, err)
	}
	if c.JSON {
		return m.printJSON(userJSON(t, u))
	}
	fmt.Fprintf(m.Stdout, "created %s %q (%s) in tenant %q: user %s\n", u.Role, u.Login, u.Name, t.Slug, u.ID)
	return nil
}

// userPassword reads the new user's password: the first line of
// --password-file, or of stdin, without its line ending. A file with more
// than one line is refused, as likely the wrong file.
func (m *Main) userPassword() (string, error) {
	var r io.Reader
	from := "stdin"
	if m.user.PasswordFile != "" {
		f, err := os.Open(m.user.PasswordFile)
		if err != nil {
			return "", fmt.Errorf("read the password: %w", err)
		}
		defer f.Close()
		r, from = f, m.user.PasswordFile
	} else {
		if m.Stdin == nil {
			return "", usageError("no password: give --password-file or the password on stdin")
		}
		if f, ok := m.Stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprint(m.Stderr, "password (typing shows; prefer --password-file): ")
			}
		}
		r = m.Stdin
	}
	// One line of at most MaxPasswordLen bytes, plus room for its ending
	// and for noticing that it is too long.
	br := bufio.NewReaderSize(io.LimitReader(r, ledger.MaxPasswordLen+16), ledger.MaxPasswordLen+16)
	line, err := br.ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from %s: %w", from, err)
	}
	password := strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if password == "" {
		return "", usageError("no password on the first line of %s", from)
	}
	if m.user.PasswordFile != "" {
		rest, _ := io.ReadAll(br)
		if strings.TrimSpace(string(rest)) != "" {
			return "", usageError("%s has more than one line; the password is its only line", from)
		}
	}
	return password, nil
}

func (m *Main) userList(ctx context.Context, t ledger.Tenant) error {
	us, err := m.ledger.Users(ctx, t.ID)
	if err != nil {
		return fmt.Errorf("list users of tenant %q: %w", t.Slug, err)
	}
	if m.user.JSON {
		out := make([]map[string]string, 0, len(us))
		for _, u := range us {
			out = append(out, userJSON(t, u))
		}
		return m.printJSON(map[string]any{"users": out})
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "LOGIN\tNAME\tROLE\tSTATUS\tCREATED")
	for _, u := range us {
		status := "enabled"
		if !u.DisabledAt.IsZero() {
			status = "disabled " + u.DisabledAt.Format(time.RFC3339)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", u.Login, u.Name, u.Role, status, u.CreatedAt.Format(time.RFC3339))
	}
	return w.Flush()
}

// userJSON is a user as 'user create --json' and 'user list --json' print
// it; disabled_at is empty while the user may sign in.
func userJSON(t ledger.Tenant, u ledger.User) map[string]string {
	disabled := ""
	if !u.DisabledAt.IsZero() {
		disabled = u.DisabledAt.Format(time.RFC3339Nano)
	}
	return map[string]string{"user_id": u.ID.String(), "tenant": t.Slug, "login": u.Login, "name": u.Name,
		"role": string(u.Role), "created_at": u.CreatedAt.Format(time.RFC3339Nano), "disabled_at": disabled}
}
