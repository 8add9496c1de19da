package fakebot

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// The expected texts, entities and error messages below are TDLib's (the
// parser behind the Bot API), so a gateway's markup is judged as Telegram
// would judge it. "🏟 🏟" is 9 bytes and 5 UTF-16 units.

type markupCase struct {
	in       string
	text     string
	entities []MessageEntity
	err      string
}

func ent(typ string, off, n int) MessageEntity {
	return MessageEntity{Type: typ, Offset: off, Length: n}
}

func runMarkupCases(t *testing.T, parse func(string) (string, []MessageEntity, error), cases []markupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.in, func(t *testing.T) {
			text, entities, err := parse(tc.in)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.text, text)
			if len(tc.entities) == 0 {
				require.Empty(t, entities)
			} else {
				require.Equal(t, tc.entities, entities)
			}
		})
	}
}

func TestParseHTML(t *testing.T) {
	runMarkupCases(t, parseHTML, []markupCase{
		{in: "🏟 🏟&lt;<abacaba", err: "Unclosed start tag at byte offset 13"},
		{in: "🏟 🏟&lt;<abac aba>", err: `Unsupported start tag "abac" at byte offset 13`},
		{in: "🏟 🏟&lt;<i   =aba>", err: `Empty attribute name in the tag "i" at byte offset 13`},
		{in: "🏟 🏟&lt;<i    aba>", err: `Can't find end tag corresponding to start tag "i"`},
		{in: "🏟 🏟&lt;<i    aba  =  ", err: `Unclosed start tag "i" at byte offset 13`},
		{in: "🏟 🏟&lt;<i    aba  =  190azAz-.,", err: "Unexpected end of name token at byte offset 27"},
		{in: `🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>`, err: "Unclosed start tag at byte offset 13"},
		{in: "🏟 🏟&lt;</", err: "Unexpected end tag at byte offset 13"},
		{in: "🏟 🏟&lt;<b></b></", err: "Unexpected end tag at byte offset 20"},
		{in: "🏟 🏟&lt;<i>a</i   ", err: "Unclosed end tag at byte offset 17"},
		{in: "🏟 🏟&lt;<i>a</em   >", err: `Unmatched end tag at byte offset 17, expected "</i>", found "</em>"`},
		{in: "&#xDFDF;", err: "Text contains invalid Unicode characters after decoding HTML entities, check for unmatched surrogate code units"},
		{in: `<span class="x">a</span>`, err: `Tag "span" must have class "tg-spoiler" at byte offset 0`},
		{in: "", text: ""},
		{in: "&ge;&lt;&gt;&amp;&quot;&laquo;&#12345678;", text: `&ge;<>&"&laquo;&#12345678;`},
		{in: "🏟 🏟<i>🏟 &lt🏟</i>", text: "🏟 🏟🏟 <🏟", entities: []MessageEntity{ent("italic", 5, 6)}},
		{in: "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>", text: "🏟 🏟🏟 ><🏟",
			entities: []MessageEntity{ent("italic", 5, 7), ent("bold", 9, 3)}},
		{in: "🏟 🏟&lt;<i>🏟 🏟&lt;</>", text: "🏟 🏟<🏟 🏟<", entities: []MessageEntity{ent("italic", 6, 6)}},
		{in: "🏟 🏟&lt;<b></b>", text: "🏟 🏟<"},
		{in: `➡️ ➡️<span class = "tg-spoiler">➡️ ➡️</span><b>➡️ ➡️</b>`, text: "➡️ ➡️➡️ ➡️➡️ ➡️",
			entities: []MessageEntity{ent("spoiler", 5, 5), ent("bold", 10, 5)}},
		{in: "<u>a</u><ins>b</ins><s>c</s><strike>d</strike><del>e</del><tg-spoiler>f</tg-spoiler>", text: "abcdef",
			entities: []MessageEntity{ent("underline", 0, 1), ent("underline", 1, 1), ent("strikethrough", 2, 1),
				ent("strikethrough", 3, 1), ent("strikethrough", 4, 1), ent("spoiler", 5, 1)}},
		{in: "<code><i><b> </b></i></code><i><b><code> </code></b></i>", text: "  ",
			entities: []MessageEntity{ent("code", 0, 1), ent("bold", 0, 1), ent("italic", 0, 1),
				ent("code", 1, 1), ent("bold", 1, 1), ent("italic", 1, 1)}},
		{in: `<a href  =  "https://t.me/x?a&lt;">link</a>`, text: "link",
			entities: []MessageEntity{{Type: "text_link", Offset: 0, Length: 4, URL: "https://t.me/x?a<"}}},
		{in: "<a>telegram.org</a>", text: "telegram.org",
			entities: []MessageEntity{{Type: "text_link", Offset: 0, Length: 12, URL: "telegram.org"}}},
		{in: "<a> </a>", text: " "},
		{in: `<pre><code class="language-go">x</code></pre>`, text: "x",
			entities: []MessageEntity{{Type: "pre", Offset: 0, Length: 1, Language: "go"}}},
		{in: "<pre><code>x</code></pre>", text: "x", entities: []MessageEntity{ent("pre", 0, 1), ent("code", 0, 1)}},
		{in: "<blockquote expandable>q</blockquote>", text: "q", entities: []MessageEntity{ent("expandable_blockquote", 0, 1)}},
	})
}

func TestParseMarkdownV2(t *testing.T) {
	runMarkupCases(t, parseMarkdownV2, []markupCase{
		{in: "🏟 🏟_abacaba", err: "Can't find end of Italic entity at byte offset 9"},
		{in: "🏟 🏟_abac * asd ", err: "Can't find end of Bold entity at byte offset 15"},
		{in: "🏟 🏟`", err: "Can't find end of Code entity at byte offset 9"},
		{in: "🏟 🏟```a", err: "Can't find end of Pre entity at byte offset 9"},
		{in: "🏟 🏟```a ", err: "Can't find end of PreCode entity at byte offset 9"},
		{in: "🏟 🏟__🏟 _🏟___", err: "Can't find end of Italic entity at byte offset 23"},
		{in: `[telegram\.org](asd\)`, err: "Can't find end of a URL at byte offset 16"},
		{in: "🏟 🏟!", err: `Character '!' is reserved and must be escaped with the preceding '\'`},
		{in: "Hello. World", err: `Character '.' is reserved and must be escaped with the preceding '\'`},
		{in: "1-2", err: `Character '-' is reserved and must be escaped with the preceding '\'`},
		{in: "🏟 🏟![👍]", err: "The entity must contain a tg://emoji or tg://time URL"},
		{in: "🏟 🏟![👍](t://emoji?id=1234)", err: "Invalid tg://emoji or tg://time URL specified"},
		{in: ">*b\n>ld \n>bo\nld*\nasd\ndef", err: "Can't find end of Bold entity at byte offset 1"},
		{in: ">\n*a*>2", err: `Character '>' is reserved and must be escaped with the preceding '\'`},
		{in: ">asd\n>q||ew\n||asdad", err: "Can't find end of Spoiler entity at byte offset 7"},
		{in: ">asd\n>q||e||w__\n||asdad", err: "Can't find end of Underline entity at byte offset 13"},
		{in: ">asd\n>q||e||w||\n||asdad", err: "Can't find end of Spoiler entity at byte offset 16"},
		{in: "", text: ""},
		{in: `\\\a\b\c\➡️\`, text: `\abc\➡️\`},
		{in: "🏟 🏟_abac \\* asd _", text: "🏟 🏟abac * asd ", entities: []MessageEntity{ent("italic", 5, 11)}},
		{in: "🏟 🏟_🏟 __🏟___", text: "🏟 🏟🏟 🏟", entities: []MessageEntity{ent("italic", 5, 5), ent("underline", 8, 2)}},
		{in: "🏟 🏟```🏟 🏟```", text: "🏟 🏟 🏟", entities: []MessageEntity{{Type: "pre", Offset: 5, Length: 3, Language: "🏟"}}},
		{in: "```\ncode.go\n```", text: "code.go\n", entities: []MessageEntity{ent("pre", 0, 8)}},
		{in: "`a.b`", text: "a.b", entities: []MessageEntity{ent("code", 0, 3)}},
		{in: "||test||", text: "test", entities: []MessageEntity{ent("spoiler", 0, 4)}},
		{in: "~s~", text: "s", entities: []MessageEntity{ent("strikethrough", 0, 1)}},
		{in: "[telegram\\.org](https://telegram.dog?\\\\\\()", text: "telegram.org",
			entities: []MessageEntity{{Type: "text_link", Offset: 0, Length: 12, URL: `https://telegram.dog?\(`}}},
		{in: "[telegram\\.org](asdasd)", text: "telegram.org"},
		{in: "[x](tg://user?id=123456)", text: "x",
			entities: []MessageEntity{{Type: "text_mention", Offset: 0, Length: 1, User: &User{ID: 123456}}}},
		{in: "🏟 🏟![👍](TG://EMoJI/?test=1231&id=25#id=32)a", text: "🏟 🏟👍a",
			entities: []MessageEntity{{Type: "custom_emoji", Offset: 5, Length: 2, CustomEmojiID: "25"}}},
		{in: "> \n> \n>", text: " \n \n", entities: []MessageEntity{ent("blockquote", 0, 4)}},
		{in: "abc\n> \n> \n>\ndef", text: "abc\n \n \n\ndef", entities: []MessageEntity{ent("blockquote", 4, 5)}},
		{in: "\r\r>\r\ra\r\n\r", text: "\r\r\r\ra\r\n\r", entities: []MessageEntity{ent("blockquote", 2, 5)}},
		{in: ">*b\n>ld \n>bo\n>ld*\nasd\ndef", text: "b\nld \nbo\nld\nasd\ndef",
			entities: []MessageEntity{ent("blockquote", 0, 12), ent("bold", 0, 11)}},
		{in: "*a\n>b\n>ld \n>bo\n>ld\nasd*\ndef", text: "a\nb\nld \nbo\nld\nasd\ndef",
			entities: []MessageEntity{ent("bold", 0, 17), ent("blockquote", 2, 12)}},
		{in: ">`b\n>ld \n>bo\nld`\n>asd\ndef", text: "b\n>ld \n>bo\nld\nasd\ndef",
			entities: []MessageEntity{ent("blockquote", 0, 18), ent("code", 0, 13)}},
		{in: "*>abcd\n*", text: "abcd\n", entities: []MessageEntity{ent("blockquote", 0, 5), ent("bold", 0, 5)}},
		{in: ">\n**>2", text: "\n2", entities: []MessageEntity{ent("blockquote", 0, 1), ent("blockquote", 1, 1)}},
		{in: ">asd\n>q||e||w||\nasdad", text: "asd\nqew\nasdad",
			entities: []MessageEntity{ent("expandable_blockquote", 0, 8), ent("spoiler", 5, 1)}},
		{in: ">asd\r\n>q||ew||\r\n", text: "asd\r\nqew\r\n",
			entities: []MessageEntity{ent("blockquote", 0, 10), ent("spoiler", 6, 2)}},
		{in: ">asd\r\n>q||e||w||", text: "asd\r\nqew",
			entities: []MessageEntity{ent("expandable_blockquote", 0, 8), ent("spoiler", 6, 1)}},
	})
}

func TestParseMarkdownLegacy(t *testing.T) {
	runMarkupCases(t, parseMarkdown, []markupCase{
		{in: "*bold* _it_ `c` 1.5-2!", text: "bold it c 1.5-2!",
			entities: []MessageEntity{ent("bold", 0, 4), ent("italic", 5, 2), ent("code", 8, 1)}},
		{in: "a *b", err: "Can't find end of the entity starting at byte offset 2"},
		{in: `snake\_case`, text: "snake_case"},
		{in: "[site](https://example.org)", text: "site",
			entities: []MessageEntity{{Type: "text_link", Offset: 0, Length: 4, URL: "https://example.org"}}},
		{in: "```go\nfmt.Println()```", text: "fmt.Println()",
			entities: []MessageEntity{{Type: "pre", Offset: 0, Length: 13, Language: "go"}}},
	})
}
