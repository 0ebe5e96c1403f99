package schema

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseTime reads a TIME value as rows carry it ("-838:59:59.000000",
// "100:00:00", "00:00:01.5") as a duration.
func ParseTime(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) { return 0, fmt.Errorf("%q is not a TIME value ([-]h:mm:ss[.ffffff])", s) }
	rest, neg := strings.CutPrefix(s, "-")
	h, rest, ok1 := strings.Cut(rest, ":")
	m, rest, ok2 := strings.Cut(rest, ":")
	sec, frac, hasFrac := strings.Cut(rest, ".")
	if !ok1 || !ok2 || len(h) == 0 || len(h) > 4 || len(m) != 2 || len(sec) != 2 || hasFrac && (len(frac) == 0 || len(frac) > 9) {
		return bad()
	}
	hv, okh := atoiN(h)
	mv, okm := atoiN(m)
	sv, oks := atoiN(sec)
	fv, okf := atoiN(frac)
	if !okh || !okm || !oks || !okf || mv > 59 || sv > 59 {
		return bad()
	}
	for range 9 - len(frac) {
		fv *= 10
	}
	d := time.Duration(hv)*time.Hour + time.Duration(mv)*time.Minute + time.Duration(sv)*time.Second + time.Duration(fv)
	if neg {
		d = -d
	}
	return d, nil
}

// FormatTime writes a duration as a TIME literal ("-838:59:59.5"), to
// microseconds (TIME's precision; finer digits are dropped).
func FormatTime(d time.Duration) string {
	var b []byte
	if d < 0 {
		b = append(b, '-')
		d = -d
	}
	h := int64(d / time.Hour)
	if h < 10 {
		b = append(b, '0')
	}
	b = strconv.AppendInt(b, h, 10)
	m, s := int64(d/time.Minute%60), int64(d/time.Second%60)
	b = append(b, ':', byte('0'+m/10), byte('0'+m%10), ':', byte('0'+s/10), byte('0'+s%10))
	if us := int64(d % time.Second / time.Microsecond); us != 0 {
		frac := strconv.AppendInt(nil, us+1_000_000, 10)[1:] // six digits, zero padded
		b = append(b, '.')
		b = append(b, strings.TrimRight(string(frac), "0")...)
	}
	return string(b)
}
