package schema

import (
	"fmt"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
	"golang.org/x/text/encoding/korean"
	"golang.org/x/text/encoding/simplifiedchinese"
	"golang.org/x/text/encoding/traditionalchinese"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/encoding/unicode/utf32"
)

// baseCharsets names the character set of collation ids 1..323, the ids
// MySQL and MariaDB share (from information_schema.collations of MariaDB
// 10.11), plus MySQL 8's own ids (76, 248..250, 255..323), which MariaDB
// leaves unused.
var baseCharsets = func() (cs [324]string) {
	for id, name := range map[int]string{
		1: "big5", 2: "latin2", 3: "dec8", 4: "cp850", 5: "latin1", 6: "hp8", 7: "koi8r", 8: "latin1", 9: "latin2",
		10: "swe7", 11: "ascii", 12: "ujis", 13: "sjis", 14: "cp1251", 15: "latin1", 16: "hebrew", 18: "tis620",
		19: "euckr", 20: "latin7", 21: "latin2", 22: "koi8u", 23: "cp1251", 24: "gb2312", 25: "greek", 26: "cp1250",
		27: "latin2", 28: "gbk", 29: "cp1257", 30: "latin5", 31: "latin1", 32: "armscii8", 33: "utf8mb3", 34: "cp1250",
		35: "ucs2", 36: "cp866", 37: "keybcs2", 38: "macce", 39: "macroman", 40: "cp852", 41: "latin7", 42: "latin7",
		43: "macce", 44: "cp1250", 45: "utf8mb4", 46: "utf8mb4", 47: "latin1", 48: "latin1", 49: "latin1",
		50: "cp1251", 51: "cp1251", 52: "cp1251", 53: "macroman", 54: "utf16", 55: "utf16", 56: "utf16le",
		57: "cp1256", 58: "cp1257", 59: "cp1257", 60: "utf32", 61: "utf32", 62: "utf16le", 63: "binary",
		64: "armscii8", 65: "ascii", 66: "cp1250", 67: "cp1256", 68: "cp866", 69: "dec8", 70: "greek", 71: "hebrew",
		72: "hp8", 73: "keybcs2", 74: "koi8r", 75: "koi8u", 76: "utf8mb3", 77: "latin2", 78: "latin5", 79: "latin7",
		80: "cp850", 81: "cp852", 82: "swe7", 83: "utf8mb3", 84: "big5", 85: "euckr", 86: "gb2312", 87: "gbk",
		88: "sjis", 89: "tis620", 90: "ucs2", 91: "ujis", 92: "geostd8", 93: "geostd8", 94: "latin1", 95: "cp932",
		96: "cp932", 97: "eucjpms", 98: "eucjpms", 99: "cp1250", 159: "ucs2", 223: "utf8mb3",
		248: "gb18030", 249: "gb18030", 250: "gb18030",
	} {
		cs[id] = name
	}
	fill := func(from, to int, name string) {
		for id := from; id <= to; id++ {
			cs[id] = name
		}
	}
	fill(101, 124, "utf16")
	fill(128, 151, "ucs2")
	fill(160, 183, "utf32")
	fill(192, 215, "utf8mb3")
	fill(224, 247, "utf8mb4")
	fill(255, 323, "utf8mb4") // MySQL 8: utf8mb4_0900_* and later
	return cs
}()

// CharsetOf names the character set of a collation id, or "" when the id
// is unknown. Beyond the shared ids: MariaDB's *_mysql561 collations
// (576..738), its NO PAD collations (1024 + the id of the PAD collation) and
// its UCA 14.0 collations (2048.., 256 ids per character set).
func CharsetOf(collation uint64) string {
	switch id := int(collation); {
	case id < len(baseCharsets):
		return baseCharsets[id]
	case id >= 576 && id < 608:
		return "utf8mb3"
	case id >= 608 && id < 640:
		return "utf8mb4"
	case id >= 640 && id < 672:
		return "ucs2"
	case id >= 672 && id < 704:
		return "utf16"
	case id >= 736 && id < 768:
		return "utf32"
	case id >= 1024 && id < 1024+len(baseCharsets):
		return baseCharsets[id-1024]
	case id >= 2048 && id < 2048+5*256:
		return [...]string{"utf8mb3", "utf8mb4", "ucs2", "utf16", "utf32"}[(id-2048)/256]
	}
	return ""
}

// charsetConv turns a column's bytes into UTF-8.
type charsetConv struct {
	name string
	// utf8 charsets (utf8mb3, utf8mb4, ascii) are kept as they are.
	utf8 bool
	// validate marks an unknown charset: values pass only if valid UTF-8.
	validate bool
	// asciiSafe charsets encode ASCII as ASCII: such values need no work.
	asciiSafe bool
	table     *[256]rune        // latin1, by table
	enc       encoding.Encoding // the others golang.org/x/text knows
}

// latin1 is MySQL's latin1, which is Windows-1252 except that the five
// bytes cp1252 leaves undefined (0x81, 0x8D, 0x8F, 0x90, 0x9D) map to the C1
// controls of the same value, where golang.org/x/text gives U+FFFD.
var latin1 = func() *[256]rune {
	var t [256]rune
	for i := range t {
		t[i] = charmap.Windows1252.DecodeByte(byte(i))
		if t[i] == utf8.RuneError {
			t[i] = rune(i)
		}
	}
	return &t
}()

var convs = map[string]*charsetConv{}

func init() {
	for _, n := range []string{"utf8mb4", "utf8mb3", "utf8", "ascii"} {
		convs[n] = &charsetConv{name: n, utf8: true}
	}
	convs["latin1"] = &charsetConv{name: "latin1", asciiSafe: true, table: latin1}
	for n, e := range map[string]encoding.Encoding{
		"latin2": charmap.ISO8859_2, "latin5": charmap.ISO8859_9, "latin7": charmap.ISO8859_13,
		"greek": charmap.ISO8859_7, "hebrew": charmap.ISO8859_8, "koi8r": charmap.KOI8R, "koi8u": charmap.KOI8U,
		"cp1250": charmap.Windows1250, "cp1251": charmap.Windows1251, "cp1256": charmap.Windows1256,
		"cp1257": charmap.Windows1257, "cp850": charmap.CodePage850, "cp852": charmap.CodePage852,
		"cp866": charmap.CodePage866, "macroman": charmap.Macintosh, "tis620": charmap.Windows874,
		"sjis": japanese.ShiftJIS, "cp932": japanese.ShiftJIS, "ujis": japanese.EUCJP, "eucjpms": japanese.EUCJP,
		"gbk": simplifiedchinese.GBK, "gb2312": simplifiedchinese.GBK, "gb18030": simplifiedchinese.GB18030,
		"big5": traditionalchinese.Big5, "euckr": korean.EUCKR,
	} {
		convs[n] = &charsetConv{name: n, asciiSafe: true, enc: e}
	}
	for n, e := range map[string]encoding.Encoding{
		"ucs2":    unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
		"utf16":   unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM),
		"utf16le": unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM),
		"utf32":   utf32.UTF32(utf32.BigEndian, utf32.IgnoreBOM),
	} {
		convs[n] = &charsetConv{name: n, enc: e}
	}
	// Single-byte charsets golang.org/x/text lacks: their ASCII half is
	// ASCII, the rest is refused. swe7 redefines ASCII itself: refused.
	for _, n := range []string{"dec8", "hp8", "keybcs2", "macce", "armscii8", "geostd8"} {
		convs[n] = &charsetConv{name: n, asciiSafe: true}
	}
	convs["swe7"] = &charsetConv{name: "swe7"}
}

// convFor returns the converter of a character set, nil when values need
// none. An unknown name gets one that accepts only valid UTF-8: new
// collation ids are utf8mb4 in practice, but a value that is not UTF-8 is
// refused rather than guessed at.
func convFor(charset string) *charsetConv {
	if charset == "" || charset == "binary" {
		return nil
	}
	c, ok := convs[charset]
	if !ok {
		return &charsetConv{name: charset, validate: true}
	}
	if c.utf8 {
		return nil
	}
	return c
}

// toUTF8 converts a value of the column's charset, reporting whether it
// changed: ASCII text in an ASCII-compatible charset needs no work, so the
// common value does not allocate.
func (c *charsetConv) toUTF8(s string) (string, bool, error) {
	if c.validate {
		if !utf8.ValidString(s) {
			return "", false, fmt.Errorf("value is not valid UTF-8, and binflow does not know character set %q", c.name)
		}
		return s, false, nil
	}
	if c.asciiSafe && isASCII(s) {
		return s, false, nil
	}
	switch {
	case c.table != nil:
		b := make([]byte, 0, len(s)+len(s)/2)
		for i := 0; i < len(s); i++ {
			b = utf8.AppendRune(b, c.table[s[i]])
		}
		return string(b), true, nil
	case c.enc != nil:
		out, err := c.enc.NewDecoder().String(s)
		if err != nil {
			return "", false, fmt.Errorf("convert %s to UTF-8: %w", c.name, err)
		}
		return out, true, nil
	}
	return "", false, fmt.Errorf("binflow cannot convert text in character set %s to UTF-8; convert the column to utf8mb4", c.name)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}
