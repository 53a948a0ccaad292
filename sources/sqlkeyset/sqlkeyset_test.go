package sqlkeyset

import (
	"reflect"
	"testing"
)

func TestSelect(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    Dialect
		s    Select
		sql  string
		args []any
	}{
		{"plain", MySQL, Select{Table: "t", Columns: []string{"a", "b`x"}},
			"SELECT `a`, `b``x` FROM `t`", nil},
		{"single after limit", MySQL, Select{Table: "t", Columns: []string{"a"}, OrderBy: []string{"a"}, After: []any{1}, Limit: 10},
			"SELECT `a` FROM `t` WHERE `a` > ? ORDER BY `a` LIMIT 10", []any{1}},
		{"composite expanded", SQLite, Select{Schema: "s", Table: "t", Columns: []string{"a", "b", "c"}, OrderBy: []string{"a", "b", "c"}, After: []any{1, 2, 3}},
			`SELECT "a", "b", "c" FROM "s"."t" WHERE ("a" >= ? AND ("a" > ? OR ("a" = ? AND "b" > ?) OR ("a" = ? AND "b" = ? AND "c" > ?))) ORDER BY "a", "b", "c"`,
			[]any{1, 1, 1, 2, 1, 2, 3}},
		{"upto and versions", MySQL, Select{Table: "t", Columns: []string{"a"}, OrderBy: []string{"v", "a"}, Upto: []any{5, 6}, Version: "v", VersionFrom: 1, VersionUntil: 9},
			"SELECT `a` FROM `t` WHERE (`v` <= ? AND (`v` < ? OR (`v` = ? AND `a` <= ?))) AND `v` >= ? AND `v` <= ? ORDER BY `v`, `a`",
			[]any{5, 5, 5, 6, 1, 9}},
		{"row values", Postgres, Select{Table: "t", Columns: []string{"a"}, OrderBy: []string{"a", "b"}, After: []any{1, "x"}, Upto: []any{2, "y"}},
			`SELECT "a" FROM "t" WHERE ("a", "b") > ($1, $2) AND ("a", "b") <= ($3, $4) ORDER BY "a", "b"`,
			[]any{1, "x", 2, "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sql, args, err := tc.d.Select(tc.s)
			if err != nil {
				t.Fatal(err)
			}
			if sql != tc.sql {
				t.Errorf("sql:\n got %s\nwant %s", sql, tc.sql)
			}
			if !reflect.DeepEqual(args, tc.args) {
				t.Errorf("args: got %v, want %v", args, tc.args)
			}
		})
	}
}

func TestSelectErrors(t *testing.T) {
	for _, s := range []Select{
		{Table: "t"},
		{Table: "t", Columns: []string{"a"}, OrderBy: []string{"a"}, After: []any{1, 2}},
		{Table: "t", Columns: []string{"a"}, OrderBy: []string{"a"}, Upto: []any{}},
		{Table: "t", Columns: []string{"a"}, VersionFrom: 1},
	} {
		if _, _, err := MySQL.Select(s); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
}

func TestGetByKeys(t *testing.T) {
	sql, args, err := MySQL.GetByKeys(Get{Table: "t", Columns: []string{"a", "b"}, Key: []string{"a"}, IDs: [][]any{{1}, {2}}})
	if err != nil || sql != "SELECT `a`, `b` FROM `t` WHERE `a` IN (?, ?)" || !reflect.DeepEqual(args, []any{1, 2}) {
		t.Errorf("single: %s %v %v", sql, args, err)
	}
	sql, args, err = SQLite.GetByKeys(Get{Table: "t", Columns: []string{"v"}, Key: []string{"a", "b"}, IDs: [][]any{{1, "x"}, {2, "y"}}})
	if err != nil || sql != `SELECT "v" FROM "t" WHERE ("a" = ? AND "b" = ?) OR ("a" = ? AND "b" = ?)` || !reflect.DeepEqual(args, []any{1, "x", 2, "y"}) {
		t.Errorf("composite: %s %v %v", sql, args, err)
	}
	sql, _, err = Postgres.GetByKeys(Get{Schema: "s", Table: "t", Columns: []string{"v"}, Key: []string{"a", "b"}, IDs: [][]any{{1, "x"}, {2, "y"}},
		Wrap: func(c, q string) string { return "+" + q }})
	if err != nil || sql != `SELECT +"v" FROM "s"."t" WHERE ("a", "b") IN (($1, $2), ($3, $4))` {
		t.Errorf("row values: %s %v", sql, err)
	}
	if _, _, err := MySQL.GetByKeys(Get{Table: "t", Columns: []string{"v"}, Key: []string{"a", "b"}, IDs: [][]any{{1}}}); err == nil {
		t.Error("short id: no error")
	}
}
