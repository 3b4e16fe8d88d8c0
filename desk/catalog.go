package desk

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/oat-toolkit/oat/atomicfile"
	"github.com/oat-toolkit/oat/productkey"
	"github.com/oat-toolkit/oat/termsafe"
)

// MaxCatalogFile caps the catalog and order files the desk reads.
const MaxCatalogFile = 1 << 20

// Catalog is the desk's product catalog: license models and the products
// sold under them. It is data: the rules a model enforces are its fields,
// interpreted by one piece of code (check.go), not special cases per model.
type Catalog struct {
	Models   map[string]Model `json:"models"`
	Products []Product        `json:"products"`
}

// Product is a product code sold under a license model.
type Product struct {
	Code  string `json:"code"`
	Name  string `json:"name"`
	Model string `json:"model"`
}

// Model is a license model (B2 and the rules it cites): what one seat
// licenses, where it may be activated, and how seats are counted.
type Model struct {
	// Description says in plain words what one license covers.
	Description string `json:"description"`
	// Rules names the rules the model implements, e.g. "B2, B16".
	Rules string `json:"rules,omitempty"`
	// Group says what activations are grouped by: "" (nothing), "host"
	// (the hypervisor host: the desk operator names it, or a physical
	// machine is its own host), "cluster" (a cluster group the desk
	// operator names), or "person" (the requesting e-mail, a named user).
	Group string `json:"group,omitempty"`
	// Count says what one seat pays for: "activation" (each activation
	// takes Units, PerSeat units to a seat) or "group" (each distinct
	// group takes one seat, whatever its number of activations).
	Count string `json:"count"`
	// PerSeat is how many units one seat covers (5 VMs for vPack and
	// Cloud, 50 agents per host license, A27); 0 means 1.
	PerSeat uint32 `json:"per_seat,omitempty"`
	// Measure is what an activation takes: "" for one unit, "sockets" for
	// the machine's CPU sockets (A28, A30).
	Measure string `json:"measure,omitempty"`
	// GroupSize limits the activations in one group under one seat (a
	// 2-node cluster, B17; one medium at a time for a named person,
	// B22); 0 means unlimited.
	GroupSize uint32 `json:"group_size,omitempty"`
	// Classes and OS restrict the machine kind (B2); empty means any.
	Classes []string `json:"classes,omitempty"`
	OS      []string `json:"os,omitempty"`
	// Virtual is "vm" when only virtual machines may activate, "physical"
	// when only physical machines may; "" allows both.
	Virtual string `json:"virtual,omitempty"`
	// Placement is "on-premises" (the default: refused in a public cloud,
	// B16), "cloud" (only in one of Clouds), or "any".
	Placement string   `json:"placement,omitempty"`
	Clouds    []string `json:"clouds,omitempty"`
	// Requires names a model that must already be active in the same
	// group (an additional cluster node needs the cluster's license, B17).
	Requires string `json:"requires,omitempty"`
	// TermDays makes every activation a subscription of that many days
	// from its start, whatever the order line says (IT Pro: a year, B22).
	TermDays int `json:"term_days,omitempty"`
	// Owned makes a seat its group's for good (IT Pro belongs to one
	// registered engineer, B22): the seat stays taken when the group's
	// activations are released, TermDays run from the group's first
	// activation, and another group gets it only when the desk reassigns
	// it (ReassignSeat). It needs count "group".
	Owned bool `json:"owned,omitempty"`
	// Alone refuses a machine that holds another model's activation, and
	// other models on a machine that holds this one (IT Pro is never
	// installed on a protected machine, B22).
	Alone bool `json:"alone,omitempty"`
	// Consumed keeps units used after a release (each deployment consumes
	// a license for good, B23).
	Consumed bool `json:"consumed,omitempty"`
	// Keys makes the product one unlocked by product keys instead of
	// activation (A22, productkeys.go): one seat carries this many keys,
	// 100 guest keys for a per-virtual-host license of the replication
	// product, 1 for a product keyed per machine.
	Keys uint32 `json:"keys,omitempty"`
}

var codeRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

var (
	groups     = []string{"", "host", "cluster", "person"}
	counts     = []string{"activation", "group"}
	measures   = []string{"", "sockets"}
	virtuals   = []string{"", "vm", "physical"}
	placements = []string{"", "on-premises", "cloud", "any"}
	classes    = []string{"server", "desktop", "appliance"}
	clouds     = []string{"aws", "azure", "gcp", "oci"}
)

// strictJSON decodes one JSON document with no unknown fields, no
// duplicate keys and nothing after it.
func strictJSON(data []byte, v any) error {
	if err := checkDuplicateKeys(data); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the JSON document")
	}
	return nil
}

// checkDuplicateKeys walks the JSON tokens and refuses an object that
// names a key twice, which encoding/json would silently let win.
func checkDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	type frame struct {
		obj  bool
		keys map[string]bool
		key  bool // the next string token in an object is a key
	}
	var stack []*frame
	depth := 0
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{', '[':
				depth++
				if depth > 16 {
					return errors.New("JSON nested too deeply")
				}
				if top != nil && top.obj {
					top.key = true
				}
				stack = append(stack, &frame{obj: d == '{', keys: map[string]bool{}, key: true})
			default:
				depth--
				stack = stack[:len(stack)-1]
			}
			continue
		}
		if top != nil && top.obj {
			if top.key {
				k := tok.(string)
				if top.keys[k] {
					return fmt.Errorf("duplicate key %q", k)
				}
				top.keys[k] = true
				top.key = false
			} else {
				top.key = true
			}
		}
	}
}

// ParseCatalog decodes and validates a catalog file.
func ParseCatalog(data []byte) (*Catalog, error) {
	if len(data) > MaxCatalogFile {
		return nil, fmt.Errorf("larger than %d bytes", MaxCatalogFile)
	}
	var c Catalog
	if err := strictJSON(data, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// ReadCatalog reads and validates a catalog file.
func ReadCatalog(path string) (*Catalog, error) {
	data, err := atomicfile.ReadCapped(path, MaxCatalogFile)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	c, err := ParseCatalog(data)
	if err != nil {
		return nil, fmt.Errorf("catalog %s: %w", path, err)
	}
	return c, nil
}

func oneOf(field, v string, allowed []string) error {
	if slices.Contains(allowed, v) {
		return nil
	}
	var a []string
	for _, s := range allowed {
		if s != "" {
			a = append(a, fmt.Sprintf("%q", s))
		}
	}
	return fmt.Errorf("%s %q is not one of %s", field, v, strings.Join(a, ", "))
}

func (c *Catalog) validate() error {
	if len(c.Products) == 0 {
		return errors.New("no products")
	}
	names := make([]string, 0, len(c.Models))
	for name := range c.Models {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		m := c.Models[name]
		if !codeRE.MatchString(name) {
			return fmt.Errorf("model name %q: use lower-case letters, digits, '.', '_' and '-'", name)
		}
		if err := m.validate(c); err != nil {
			return fmt.Errorf("model %s: %w", name, err)
		}
	}
	seen := map[string]bool{}
	for i, p := range c.Products {
		if !codeRE.MatchString(p.Code) {
			return fmt.Errorf("product %d: code %q: use lower-case letters, digits, '.', '_' and '-'", i+1, p.Code)
		}
		if seen[p.Code] {
			return fmt.Errorf("product %s is listed twice", p.Code)
		}
		seen[p.Code] = true
		if p.Name == "" {
			return fmt.Errorf("product %s has no name", p.Code)
		}
		if err := termsafe.Check(p.Name); err != nil {
			return fmt.Errorf("product %s: name %v", p.Code, err)
		}
		if _, ok := c.Models[p.Model]; !ok {
			return fmt.Errorf("product %s: unknown model %q", p.Code, p.Model)
		}
	}
	return nil
}

func (m Model) validate(c *Catalog) error {
	if m.Description == "" {
		return errors.New("no description")
	}
	for _, check := range []struct {
		field, v string
		allowed  []string
	}{
		{"group", m.Group, groups}, {"count", m.Count, counts}, {"measure", m.Measure, measures},
		{"virtual", m.Virtual, virtuals}, {"placement", m.Placement, placements},
	} {
		if err := oneOf(check.field, check.v, check.allowed); err != nil {
			return err
		}
	}
	for _, cl := range m.Classes {
		if err := oneOf("class", cl, classes); err != nil {
			return err
		}
	}
	for _, cl := range m.Clouds {
		if err := oneOf("cloud", cl, clouds); err != nil {
			return err
		}
	}
	if m.Count == "group" && m.Group == "" {
		return errors.New(`count "group" needs a group`)
	}
	if m.Owned && m.Count != "group" {
		return errors.New(`owned applies to count "group" only`)
	}
	if m.GroupSize > 0 && m.Count != "group" {
		return errors.New(`group_size applies to count "group" only`)
	}
	if m.Placement == "cloud" && len(m.Clouds) == 0 {
		return errors.New(`placement "cloud" needs the clouds it allows`)
	}
	if m.Placement != "cloud" && len(m.Clouds) > 0 {
		return errors.New(`clouds apply to placement "cloud" only`)
	}
	if m.Requires != "" {
		r, ok := c.Models[m.Requires]
		if !ok {
			return fmt.Errorf("requires unknown model %q", m.Requires)
		}
		if m.Group == "" || r.Group != m.Group {
			return fmt.Errorf("requires %q: both models must group by the same thing", m.Requires)
		}
	}
	if m.Keys > productkey.GuestKeysPerHost {
		return fmt.Errorf("keys %d: a seat carries at most %d product keys", m.Keys, productkey.GuestKeysPerHost)
	}
	if m.TermDays < 0 || m.TermDays > 3660 {
		return fmt.Errorf("term_days %d out of range", m.TermDays)
	}
	if m.PerSeat > 1_000_000 || m.GroupSize > 1_000_000 {
		return errors.New("per_seat or group_size out of range")
	}
	return nil
}

// perSeat is the units one seat covers.
func (m Model) perSeat() int64 {
	if m.PerSeat == 0 {
		return 1
	}
	return int64(m.PerSeat)
}
