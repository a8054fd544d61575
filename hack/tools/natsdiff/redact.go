package main

import (
	"regexp"
	"strings"
)

// redactURL hides every userinfo in a URL list the way natsguard shows URLs (src/natsurl.rs,
// `redact`): for each '@', everything back to the nearest preceding "://" (or the previous '@',
// or the start) becomes "***", so a password holding ',' or '/' is hidden too.
func redactURL(raw string) string {
	if !strings.Contains(raw, "@") {
		return raw
	}
	var out strings.Builder
	emitted, regionStart := 0, 0
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "://"):
			i += 3
			regionStart = i
		case raw[i] == '@':
			out.WriteString(raw[emitted:regionStart])
			out.WriteString("***@")
			i++
			emitted, regionStart = i, i
		default:
			i++
		}
	}
	out.WriteString(raw[emitted:])
	return out.String()
}

// userinfoPieces are the fragments of raw that may be credentials: every region redactURL hides,
// and its parts between the characters nats.go and net/url split on.
func userinfoPieces(raw string) []string {
	var pieces []string
	regionStart := 0
	for i := 0; i < len(raw); {
		switch {
		case strings.HasPrefix(raw[i:], "://"):
			i += 3
			regionStart = i
		case raw[i] == '@':
			region := raw[regionStart:i]
			pieces = append(pieces, region)
			pieces = append(pieces, strings.FieldsFunc(region, func(r rune) bool {
				return strings.ContainsRune(",/?#: \t", r)
			})...)
			i++
			regionStart = i
		default:
			i++
		}
	}
	return pieces
}

var quoted = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)

// redactError is err's text with no URL userinfo in it. When the list has no '@' there is no
// userinfo to hide. Otherwise every quoted string (net/url quotes the URL and the offending part)
// is masked and every '@'-prefix hidden; if a credential fragment of 3 or more characters would
// still show, the text is withheld.
func redactError(raw string, err error) string {
	if err == nil {
		return ""
	}
	msg := err.Error()
	if !strings.Contains(raw, "@") {
		return msg
	}
	msg = quoted.ReplaceAllString(msg, `"***"`)
	msg = redactURL(msg)
	for _, p := range userinfoPieces(raw) {
		if len(strings.TrimSpace(p)) >= 3 && strings.Contains(msg, p) {
			return "(error text withheld: it would show URL userinfo)"
		}
	}
	return msg
}
