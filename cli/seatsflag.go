package cli

import ucli "github.com/urfave/cli/v2"

// countFlag is an Int64Flag whose help shows no default: a required count
// such as --seats has none, and "(default: 0)" would name a value the
// command then refuses.
type countFlag struct{ *ucli.Int64Flag }

func (f countFlag) GetDefaultText() string { return "" }

// seatsFlag is the required --seats of the desk commands.
func seatsFlag(usage string) ucli.Flag {
	return countFlag{&ucli.Int64Flag{Name: "seats", Usage: usage, Required: true}}
}

func (f countFlag) String() string { return ucli.FlagStringer(f) }
