package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"text/tabwriter"

	"stocksync/ledger"
)

// tenantCommand is the configuration of 'stocksync tenant ...'.
type tenantCommand struct {
	// Name is the tenant's display name (create).
	Name string
	// Role and KeyName describe the API key that key creates.
	Role    string
	KeyName string
	JSON    bool
	// All makes new-ledger renew every tenant's ledger ID.
	All bool
}

func (m *Main) tenantFlags(fs *flag.FlagSet) {
	c := &m.tenant
	fs.StringVar(&c.Name, "name", "", "create: the tenant's display name (default: the slug)")
	fs.StringVar(&c.Role, "role", "manager", "key: the API key's role: admin, manager or staff")
	fs.StringVar(&c.KeyName, "key-name", "", "key: a name for the API key, shown in audit trails (default: the role)")
	fs.BoolVar(&c.JSON, "json", false, "print the result as JSON")
	fs.BoolVar(&c.All, "all", false, "new-ledger: every tenant (the step after restoring the database from a backup)")
}

// validate checks the tenant command's words.
func (c *tenantCommand) validate(args []string) []error {
	if len(args) == 0 {
		return []error{errors.New("tenant needs an action: create <slug>, list, key <slug>, or new-ledger <slug>|--all")}
	}
	if args[0] == "new-ledger" {
		if (len(args) == 2) == c.All {
			return []error{errors.New("tenant new-ledger takes one tenant's slug or --all")}
		}
		return nil
	}
	switch want := map[string]int{"create": 2, "list": 1, "key": 2}[args[0]]; {
	case want == 0:
		return []error{fmt.Errorf("unknown tenant action %q: use create <slug>, list, key <slug>, or new-ledger <slug>|--all", args[0])}
	case len(args) != want:
		return []error{fmt.Errorf("tenant %s takes %d word(s) after it, got %q", args[0], want-1, args[1:])}
	}
	if args[0] == "key" && c.Role != string(ledger.RoleAdmin) && c.Role != string(ledger.RoleManager) && c.Role != string(ledger.RoleStaff) {
		return []error{fmt.Errorf("--role must be admin, manager or staff, got %q", c.Role)}
	}
	return nil
}

// createdTenant is what 'tenant create --json' prints: the issue's
// integration shape.
type createdTenant struct {
	TenantID string `json:"tenant_id"`
	Slug     string `json:"slug"`
	Name     string `json:"name"`
	APIKey   string `json:"api_key"`
	LedgerID string `json:"ledger_id"`
}

func (m *Main) runTenant(ctx context.Context) error {
	if _, err := m.open(ctx, m.Args[0] != "create"); err != nil {
		return err
	}
	switch m.Args[0] {
	case "create":
		return m.tenantCreate(ctx, m.Args[1])
	case "key":
		return m.tenantKey(ctx, m.Args[1])
	case "new-ledger":
		return m.tenantNewLedger(ctx)
	default:
		return m.tenantList(ctx)
	}
}

// tenantCreate creates the tenant and its first admin API key, so the
// operator can reach the management API at once.
func (m *Main) tenantCreate(ctx context.Context, slug string) error {
	t, err := m.ledger.CreateTenant(ctx, slug, m.tenant.Name, nil)
	if err != nil {
		if ledger.ErrorCode(err) == ledger.CodeInvalid {
			return &ExitError{Code: ExitUsage, Err: err}
		}
		return fmt.Errorf("create tenant %q: %w", slug, err)
	}
	_, secret, err := m.ledger.CreateAPIKey(ctx, t.ID, "admin", ledger.RoleAdmin)
	if err != nil {
		return fmt.Errorf("create the admin API key of tenant %q: %w", slug, err)
	}
	if m.tenant.JSON {
		return m.printJSON(createdTenant{TenantID: t.ID.String(), Slug: t.Slug, Name: t.Name, APIKey: secret, LedgerID: t.LedgerID.String()})
	}
	fmt.Fprintf(m.Stdout, "created tenant %q (%s)\n", t.Slug, t.ID)
	fmt.Fprintf(m.Stdout, "admin API key (shown once; the server keeps only its hash):\n  %s\n", secret)
	fmt.Fprintf(m.Stdout, "use it as: Authorization: Bearer <key>\n")
	return nil
}

// tenantKey adds an API key to a tenant.
func (m *Main) tenantKey(ctx context.Context, slug string) error {
	t, err := m.ledger.TenantBySlug(ctx, slug)
	if err != nil {
		return fmt.Errorf("tenant %q: %w", slug, err)
	}
	name := m.tenant.KeyName
	if name == "" {
		name = m.tenant.Role
	}
	k, secret, err := m.ledger.CreateAPIKey(ctx, t.ID, name, ledger.Role(m.tenant.Role))
	if err != nil {
		return fmt.Errorf("create API key for tenant %q: %w", slug, err)
	}
	if m.tenant.JSON {
		return m.printJSON(map[string]string{"id": k.ID.String(), "name": k.Name, "role": string(k.Role), "api_key": secret})
	}
	fmt.Fprintf(m.Stdout, "%s API key %q for tenant %q (shown once):\n  %s\n", k.Role, k.Name, slug, secret)
	return nil
}

// tenantNewLedger gives one tenant, or every tenant, a new ledger ID: the
// step after restoring the database from a backup, so every handheld
// downloads its scope again instead of resuming from a cursor the restore
// made meaningless.
func (m *Main) tenantNewLedger(ctx context.Context) error {
	var ts []ledger.Tenant
	if m.tenant.All {
		all, err := m.ledger.Tenants(ctx)
		if err != nil {
			return fmt.Errorf("list tenants: %w", err)
		}
		ts = all
	} else {
		t, err := m.ledger.TenantBySlug(ctx, m.Args[1])
		if err != nil {
			return fmt.Errorf("tenant %q: %w", m.Args[1], err)
		}
		ts = []ledger.Tenant{t}
	}
	for _, t := range ts {
		id, err := m.ledger.NewLedgerID(ctx, t.ID)
		if err != nil {
			return fmt.Errorf("new ledger id for tenant %q: %w", t.Slug, err)
		}
		fmt.Fprintf(m.Stdout, "tenant %q: ledger %s (was %s); its handhelds download their scope again on their next sync\n", t.Slug, id, t.LedgerID)
	}
	return nil
}

func (m *Main) tenantList(ctx context.Context) error {
	ts, err := m.ledger.Tenants(ctx)
	if err != nil {
		return fmt.Errorf("list tenants: %w", err)
	}
	if m.tenant.JSON {
		out := make([]map[string]string, 0, len(ts))
		for _, t := range ts {
			out = append(out, map[string]string{"tenant_id": t.ID.String(), "slug": t.Slug, "name": t.Name})
		}
		return m.printJSON(map[string]any{"tenants": out})
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "SLUG\tNAME\tID")
	for _, t := range ts {
		fmt.Fprintf(w, "%s\t%s\t%s\n", t.Slug, t.Name, t.ID)
	}
	return w.Flush()
}

// printJSON writes v to Stdout as indented JSON.
func (m *Main) printJSON(v any) error {
	enc := json.NewEncoder(m.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
