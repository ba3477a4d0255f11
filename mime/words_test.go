package mime

import "testing"

func TestDecodeWordsLenient(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=?utf-8?Q?a b.exe?=", "ab.exe"},
		{"=?utf-8?B?YS5l\r\n eGU?=", "a.exe"},
		{"=?utf-8?B?YS5leGU?=", "a.exe"},
		{"=?utf-8?Q?a=ZZ.exe?=", "a=ZZ.exe"},
		{"=?utf-8?B?0J/R?= \t=?UTF-8?B?gNC4LmV4ZQ==?=", "При.exe"},
		{"=?koi8-r?B?0NLJ?= x =?utf-8*en?Q?.exe?=", "при x .exe"},
		{"=?x-unknown?Q?a.exe?=", "a.exe"},
		{"=?utf-7?Q?a+AC4-exe?=", "a.exe"},
		{"=?utf-8?X?a.exe?= =?utf-8?Q?b?=", "=?utf-8?X?a.exe?= b"},
		{"=?utf-8?Q?open", "=?utf-8?Q?open"},
		{"=?utf-8?B?!!!?=", "=?utf-8?B?!!!?="},
		{"a=?b", "a=?b"},
	}
	for _, tt := range tests {
		var d nameDecoder
		if got := d.decodeWordsLenient(tt.in); got != tt.want {
			t.Errorf("decodeWordsLenient(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestUnknownCharsetIsAProblem(t *testing.T) {
	res, err := split(t, hdrs+"Content-Type: application/octet-stream; name*=x-unknown''a%2Eexe\n\nx\n", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(res); len(got) != 1 || got[0] != "a.exe" {
		t.Errorf("names = %q, want a.exe", got)
	}
	if len(res.Problems) != 1 {
		t.Errorf("problems = %q, want one about the charset", res.Problems)
	}
}

func TestDecodeUTF7(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a+AC4-exe", "a.exe"},
		{"1 +- 1", "1 + 1"},
		{"+BB8EQAQ4-.doc", "При.doc"},
		{"+2D3eAA-", "\U0001F600"},
		{"+AC4", "."},
	}
	for _, tt := range tests {
		if got := decodeUTF7([]byte(tt.in)); got != tt.want {
			t.Errorf("decodeUTF7(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
