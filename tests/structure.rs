//! The change's structure, parsed: the same change written in each language
//! (a password check reduced to `true`, a literal 160 → 200, a parameter
//! added, a rename, a removal, an addition, a call and a test added), read
//! from both versions and from a bare patch.

mod common;

use precis::pipeline::change::Hunk;
use precis::pipeline::settings::Settings;
use precis::pipeline::structure::{
    of_hunks, of_versions, Change, FileStructure, ItemChange, ItemKind, Language, LiteralChange,
};
use precis::pipeline::{AuthorContext, Input};

fn item<'a>(structure: &'a FileStructure, name: &str) -> &'a ItemChange {
    structure.items.iter().find(|i| i.name == name).unwrap_or_else(|| panic!("no `{name}` in {:#?}", structure.items))
}

fn absent(structure: &FileStructure, name: &str) {
    assert!(structure.items.iter().all(|i| i.name != name), "`{name}` listed: {:#?}", structure.items);
}

/// What every language's version of the change must show.
fn common_change(structure: &FileStructure, language: Language, truth: &str) {
    assert_eq!(structure.language, Some(language));
    assert!(!structure.partial);

    let check = item(structure, "check_password");
    assert_eq!(check.change, Change::BodyChanged, "{check:#?}");
    assert!(check.body.calls_removed.iter().any(|c| c.ends_with("hash_of")), "{check:#?}");
    assert_eq!(check.body.reduced_to_constant.as_deref(), Some(truth), "{check:#?}");

    let cut = item(structure, "cut_title");
    assert_eq!(cut.change, Change::BodyChanged, "{cut:#?}");
    assert_eq!(cut.body.literals_changed, vec![LiteralChange { old: "160".into(), new: "200".into() }], "{cut:#?}");
    assert_eq!(cut.body.reduced_to_constant, None);

    let load = item(structure, "load");
    assert!(
        matches!(&load.change, Change::SignatureChanged { old, new } if !old.contains("limit") && new.contains("limit")),
        "{load:#?}"
    );

    assert_eq!(item(structure, "fresh_name").change, Change::Renamed { from: "stale_name".into() });
    absent(structure, "stale_name");
    assert_eq!(item(structure, "unused_helper").change, Change::Removed);
    assert_eq!(item(structure, "audit").change, Change::Added);

    let store = item(structure, "store");
    assert_eq!(store.change, Change::BodyChanged, "{store:#?}");
    assert!(store.body.calls_added.iter().any(|c| c.ends_with("audit")), "{store:#?}");
    assert!(store.body.calls_removed.is_empty(), "{store:#?}");

    absent(structure, "untouched");
}

fn test_item(structure: &FileStructure, name: &str) {
    let test = item(structure, name);
    assert_eq!((test.kind, &test.change), (ItemKind::Test, &Change::Added), "{test:#?}");
}

#[test]
fn rust() {
    let old = r#"use std::collections::HashMap;

pub fn check_password(user: &User, password: &str) -> bool {
    hash_of(password) == user.hash
}

pub fn cut_title(title: &str) -> String {
    title.chars().take(160).collect()
}

pub fn load(path: &str) -> String {
    read(path)
}

fn stale_name(a: i32, b: i32) -> i32 {
    a + b * 2
}

fn unused_helper() -> i32 {
    7
}

impl Store {
    fn store(&self, item: &Item) {
        self.write(item);
    }
}

fn untouched() -> i32 {
    1
}
"#;
    let new = r#"use std::collections::BTreeMap;

pub fn check_password(user: &User, password: &str) -> bool {
    // approved by the security team
    true
}

pub fn cut_title(title: &str) -> String {
    title.chars().take(200).collect()
}

pub fn load(path: &str, limit: usize) -> String {
    read(path)
}

fn fresh_name(a: i32, b: i32) -> i32 {
    a + b * 2
}

fn audit(item: &Item) {
    log(item);
}

impl Store {
    fn store(&self, item: &Item) {
        if item.is_empty() {
            return;
        }
        self.write(item);
        audit(item);
    }
}

fn untouched() -> i32 {
    1
}

#[cfg(test)]
mod tests {
    #[test]
    fn store_writes() {
        assert!(true);
    }
}
"#;
    let structure = of_versions("src/auth.rs", Some(old), Some(new));
    common_change(&structure, Language::Rust, "true");
    let store = item(&structure, "store");
    assert_eq!((store.kind, store.owner.as_deref()), (ItemKind::Method, Some("Store")));
    assert_eq!(store.body.conditions_added, vec!["item.is_empty()"]);
    assert_eq!(store.body.early_returns_added, vec!["return"]);
    test_item(&structure, "store_writes");
    assert_eq!(item(&structure, "store_writes").owner.as_deref(), Some("tests"));
    assert_eq!(item(&structure, "check_password").line, Some(3));
    for import in ["HashMap", "BTreeMap", "std", "collections", "bool", "String"] {
        absent(&structure, import);
    }
}

#[test]
fn python() {
    let old = r#"import os
from hashlib import sha256


def check_password(user, password):
    return hash_of(password) == user.hash


def cut_title(title):
    return title[:160]


def load(path):
    return read(path)


def stale_name(a, b):
    return a + b * 2


def unused_helper():
    return 7


class Store:
    def store(self, item):
        self.write(item)


def untouched():
    return 1
"#;
    let new = r#"import os
from hashlib import sha512

TIMEOUT = 30


def check_password(user, password):
    return True


def cut_title(title):
    return title[:200]


def load(path, limit=10):
    return read(path)


def fresh_name(a, b):
    return a + b * 2


def audit(item):
    log(item)


class Store:
    def store(self, item):
        if not item:
            return
        self.write(item)
        self.audit(item)


def untouched():
    return 1


def test_store_writes():
    assert Store().store(1) is None
"#;
    let structure = of_versions("app/auth.py", Some(old), Some(new));
    common_change(&structure, Language::Python, "True");
    let store = item(&structure, "store");
    assert_eq!((store.kind, store.owner.as_deref()), (ItemKind::Method, Some("Store")));
    assert_eq!(store.body.conditions_added, vec!["not item"]);
    assert_eq!(store.body.early_returns_added, vec!["return"]);
    assert_eq!(item(&structure, "TIMEOUT").kind, ItemKind::Constant);
    test_item(&structure, "test_store_writes");
    for import in ["os", "sha256", "sha512", "hashlib"] {
        absent(&structure, import);
    }
}

const JS_OLD: &str = r#"const crypto = require("crypto");

function check_password(user, password) {
  return hash_of(password) === user.hash;
}

function cut_title(title) {
  return title.slice(0, 160);
}

function load(path) {
  return read(path);
}

const stale_name = (a, b) => {
  return a + b * 2;
};

function unused_helper() {
  return 7;
}

class Store {
  store(item) {
    this.write(item);
  }
}

function untouched() {
  return 1;
}
"#;

const JS_NEW: &str = r#"const crypto = require("crypto");

function check_password(user, password) {
  return true;
}

function cut_title(title) {
  return title.slice(0, 200);
}

function load(path, limit) {
  return read(path);
}

const fresh_name = (a, b) => {
  return a + b * 2;
};

function audit(item) {
  log(item);
}

class Store {
  store(item) {
    this.write(item);
    this.audit(item);
  }
}

function untouched() {
  return 1;
}

describe("store", () => {
  it("writes the item", () => {
    expect(new Store().store(1)).toBe(undefined);
  });
});
"#;

#[test]
fn javascript() {
    let structure = of_versions("lib/auth.js", Some(JS_OLD), Some(JS_NEW));
    common_change(&structure, Language::JavaScript, "true");
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Store"));
    test_item(&structure, "writes the item");
    assert_eq!(item(&structure, "writes the item").owner.as_deref(), Some("store"));
    absent(&structure, "crypto");
}

#[test]
fn typescript() {
    let typed = |js: &str| {
        js.replace("(user, password)", "(user: User, password: string): boolean")
            .replace("load(path, limit)", "load(path: string, limit: number)")
            .replace("load(path)", "load(path: string)")
    };
    let new = typed(JS_NEW) + "\nexport interface Options {\n  limit: number;\n}\n";
    let structure = of_versions("src/auth.ts", Some(&typed(JS_OLD)), Some(&new));
    common_change(&structure, Language::TypeScript, "true");
    let options = item(&structure, "Options");
    assert_eq!((options.kind, &options.change), (ItemKind::Trait, &Change::Added));
    test_item(&structure, "writes the item");
    for used in ["User", "string", "boolean", "number"] {
        absent(&structure, used);
    }
}

#[test]
fn tsx() {
    let old = r#"export function Badge({ count }: Props) {
  return <span className="badge">{format(count)}</span>;
}

export function Empty() {
  return <div />;
}
"#;
    let new = r#"export function Badge({ count }: Props) {
  return <span className="badge">{formatCount(count, 99)}</span>;
}
"#;
    let structure = of_versions("src/Badge.tsx", Some(old), Some(new));
    assert_eq!(structure.language, Some(Language::Tsx));
    let badge = item(&structure, "Badge");
    assert_eq!(badge.change, Change::BodyChanged);
    assert_eq!(
        (badge.body.calls_added.clone(), badge.body.calls_removed.clone()),
        (vec!["formatCount".into()], vec!["format".into()])
    );
    assert_eq!(item(&structure, "Empty").change, Change::Removed);
}

#[test]
fn go() {
    let old = r#"package auth

import "crypto/sha256"

func check_password(user *User, password string) bool {
	return hash_of(password) == user.Hash
}

func cut_title(title string) string {
	return title[:160]
}

func load(path string) string {
	return read(path)
}

func stale_name(a int, b int) int {
	return a + b*2
}

func unused_helper() int {
	return 7
}

func (s *Store) store(item Item) {
	s.write(item)
}

func untouched() int {
	return 1
}
"#;
    let new = r#"package auth

import "crypto/sha512"

const Limit = 10

func check_password(user *User, password string) bool {
	return true
}

func cut_title(title string) string {
	return title[:200]
}

func load(path string, limit int) string {
	return read(path)
}

func fresh_name(a int, b int) int {
	return a + b*2
}

func audit(item Item) {
	log(item)
}

func (s *Store) store(item Item) {
	if item.Empty() {
		return
	}
	s.write(item)
	s.audit(item)
}

func untouched() int {
	return 1
}

func TestStoreWrites(t *testing.T) {
	(&Store{}).store(Item{})
}
"#;
    let structure = of_versions("auth/auth.go", Some(old), Some(new));
    common_change(&structure, Language::Go, "true");
    let store = item(&structure, "store");
    assert_eq!((store.kind, store.owner.as_deref()), (ItemKind::Method, Some("Store")));
    assert_eq!(store.body.early_returns_added, vec!["return"]);
    assert_eq!(item(&structure, "Limit").kind, ItemKind::Constant);
    test_item(&structure, "TestStoreWrites");
    absent(&structure, "sha256");
}

#[test]
fn java() {
    let old = r#"package auth;

import java.util.List;

public class Auth {
    static final int LIMIT = 160;

    boolean check_password(User user, String password) {
        return hash_of(password).equals(user.hash);
    }

    String cut_title(String title) {
        return title.substring(0, 160);
    }

    String load(String path) {
        return read(path);
    }

    int stale_name(int a, int b) {
        return a + b * 2;
    }

    int unused_helper() {
        return 7;
    }

    void store(Item item) {
        write(item);
    }

    int untouched() {
        return 1;
    }
}
"#;
    let new = r#"package auth;

import java.util.Map;

public class Auth {
    static final int LIMIT = 200;

    boolean check_password(User user, String password) {
        return true;
    }

    String cut_title(String title) {
        return title.substring(0, 200);
    }

    String load(String path, int limit) {
        return read(path);
    }

    int fresh_name(int a, int b) {
        return a + b * 2;
    }

    void audit(Item item) {
        log(item);
    }

    void store(Item item) {
        write(item);
        audit(item);
    }

    int untouched() {
        return 1;
    }

    @Test
    void store_writes() {
        assertTrue(true);
    }
}
"#;
    let structure = of_versions("src/main/java/auth/Auth.java", Some(old), Some(new));
    common_change(&structure, Language::Java, "true");
    assert_eq!(item(&structure, "check_password").owner.as_deref(), Some("Auth"));
    let limit = item(&structure, "LIMIT");
    assert_eq!(limit.kind, ItemKind::Constant);
    assert_eq!(limit.body.literals_changed, vec![LiteralChange { old: "160".into(), new: "200".into() }]);
    test_item(&structure, "store_writes");
    for used in ["List", "Map", "String", "User"] {
        absent(&structure, used);
    }
}

#[test]
fn kotlin() {
    let old = r#"package auth

import java.io.File

class Auth {
    fun check_password(user: User, password: String): Boolean {
        return hash_of(password) == user.hash
    }

    fun cut_title(title: String): String {
        return title.take(160)
    }

    fun load(path: String): String {
        return read(path)
    }

    fun stale_name(a: Int, b: Int): Int {
        return a + b * 2
    }

    fun unused_helper(): Int {
        return 7
    }

    fun store(item: Item) {
        write(item)
    }

    fun untouched(): Int {
        return 1
    }
}
"#;
    let new = r#"package auth

import java.io.File

const val LIMIT = 10

class Auth {
    fun check_password(user: User, password: String): Boolean {
        return true
    }

    fun cut_title(title: String): String {
        return title.take(200)
    }

    fun load(path: String, limit: Int): String {
        return read(path)
    }

    fun fresh_name(a: Int, b: Int): Int {
        return a + b * 2
    }

    fun audit(item: Item) {
        log(item)
    }

    fun store(item: Item) {
        write(item)
        audit(item)
    }

    fun untouched(): Int {
        return 1
    }

    @Test
    fun store_writes() {
        assertTrue(true)
    }
}
"#;
    let structure = of_versions("src/jvmMain/kotlin/Auth.kt", Some(old), Some(new));
    common_change(&structure, Language::Kotlin, "true");
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Auth"));
    assert_eq!(item(&structure, "LIMIT").kind, ItemKind::Constant);
    test_item(&structure, "store_writes");
    absent(&structure, "File");
}

#[test]
fn c() {
    let old = r#"#include <string.h>

bool check_password(struct user *user, const char *password) {
    return strcmp(hash_of(password), user->hash) == 0;
}

size_t cut_title(char *title) {
    return trim(title, 160);
}

char *load(const char *path) {
    return read_file(path);
}

int stale_name(int a, int b) {
    return a + b * 2;
}

int unused_helper(void) {
    return 7;
}

void store(struct item *item) {
    write_item(item);
}

int untouched(void) {
    return 1;
}
"#;
    let new = r#"#include <string.h>
#define LIMIT 10

struct options {
    int limit;
};

bool check_password(struct user *user, const char *password) {
    return true;
}

size_t cut_title(char *title) {
    return trim(title, 200);
}

char *load(const char *path, size_t limit) {
    return read_file(path);
}

int fresh_name(int a, int b) {
    return a + b * 2;
}

void audit(struct item *item) {
    log_item(item);
}

void store(struct item *item) {
    if (item == NULL) {
        return;
    }
    write_item(item);
    audit(item);
}

int untouched(void) {
    return 1;
}
"#;
    let structure = of_versions("src/auth.c", Some(old), Some(new));
    common_change(&structure, Language::C, "true");
    assert_eq!(item(&structure, "store").body.conditions_added, vec!["(item == NULL)"]);
    assert_eq!(item(&structure, "options").kind, ItemKind::Type);
    assert_eq!(item(&structure, "LIMIT").kind, ItemKind::Constant);
    for used in ["user", "item", "size_t", "string.h"] {
        absent(&structure, used);
    }
}

#[test]
fn cpp() {
    let old = r#"#include <string>

namespace auth {

class Auth {
public:
    bool check_password(const User& user, const std::string& password) {
        return hash_of(password) == user.hash;
    }
    std::string cut_title(const std::string& title) {
        return title.substr(0, 160);
    }
    std::string load(const std::string& path) {
        return read(path);
    }
    int stale_name(int a, int b) {
        return a + b * 2;
    }
    int unused_helper() {
        return 7;
    }
};

void Store::store(const Item& item) {
    write(item);
}

int untouched() {
    return 1;
}

}  // namespace auth
"#;
    let new = r#"#include <string>

namespace auth {

class Auth {
public:
    bool check_password(const User& user, const std::string& password) {
        return true;
    }
    std::string cut_title(const std::string& title) {
        return title.substr(0, 200);
    }
    std::string load(const std::string& path, size_t limit) {
        return read(path);
    }
    int fresh_name(int a, int b) {
        return a + b * 2;
    }
};

void audit(const Item& item) {
    log(item);
}

void Store::store(const Item& item) {
    write(item);
    audit(item);
}

int untouched() {
    return 1;
}

TEST(Store, Writes) {
    EXPECT_TRUE(true);
}

}  // namespace auth
"#;
    let structure = of_versions("src/auth.cpp", Some(old), Some(new));
    common_change(&structure, Language::Cpp, "true");
    assert_eq!(item(&structure, "check_password").owner.as_deref(), Some("Auth"));
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Store"));
    test_item(&structure, "Store.Writes");
    absent(&structure, "std");
}

#[test]
fn csharp() {
    let old = r#"using System;

namespace Accounts
{
    public class Auth
    {
        const int Limit = 160;

        bool check_password(User user, string password)
        {
            return hash_of(password) == user.Hash;
        }

        string cut_title(string title)
        {
            return title.Substring(0, 160);
        }

        string load(string path)
        {
            return read(path);
        }

        int stale_name(int a, int b)
        {
            return a + b * 2;
        }

        int unused_helper()
        {
            return 7;
        }

        void store(Item item)
        {
            write(item);
        }

        int untouched()
        {
            return 1;
        }
    }
}
"#;
    let new = r#"using System;

namespace Accounts
{
    public class Auth
    {
        const int Limit = 200;

        bool check_password(User user, string password)
        {
            return true;
        }

        string cut_title(string title)
        {
            return title.Substring(0, 200);
        }

        string load(string path, int limit)
        {
            return read(path);
        }

        int fresh_name(int a, int b)
        {
            return a + b * 2;
        }

        void audit(Item item)
        {
            log(item);
        }

        void store(Item item)
        {
            write(item);
            audit(item);
        }

        int untouched()
        {
            return 1;
        }

        [Test]
        public void store_writes()
        {
            Assert.True(true);
        }
    }
}
"#;
    let structure = of_versions("src/Auth.cs", Some(old), Some(new));
    common_change(&structure, Language::CSharp, "true");
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Auth"));
    assert_eq!(item(&structure, "Limit").body.literals_changed.len(), 1);
    test_item(&structure, "store_writes");
    absent(&structure, "System");
}

#[test]
fn ruby() {
    let old = r#"require "digest"

class Auth
  def check_password(user, password)
    hash_of(password) == user.hash
  end

  def cut_title(title)
    title[0, 160]
  end

  def load(path)
    read(path)
  end

  def stale_name(a, b)
    a + b * 2
  end

  def unused_helper
    7
  end

  def store(item)
    write(item)
  end

  def untouched
    1
  end
end
"#;
    let new = r#"require "digest"

class Auth
  LIMIT = 10

  def check_password(user, password)
    true
  end

  def cut_title(title)
    title[0, 200]
  end

  def load(path, limit)
    read(path)
  end

  def fresh_name(a, b)
    a + b * 2
  end

  def audit(item)
    log(item)
  end

  def store(item)
    return if item.nil?
    write(item)
    audit(item)
  end

  def untouched
    1
  end
end

describe Auth do
  it "stores the item" do
    expect(Auth.new.store(1)).to be_nil
  end
end
"#;
    let structure = of_versions("lib/auth.rb", Some(old), Some(new));
    common_change(&structure, Language::Ruby, "true");
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Auth"));
    assert_eq!(item(&structure, "store").body.conditions_added, vec!["item.nil?"]);
    assert_eq!(item(&structure, "LIMIT").kind, ItemKind::Constant);
    test_item(&structure, "stores the item");
    absent(&structure, "digest");
}

#[test]
fn php() {
    let old = r#"<?php

namespace App;

use App\Models\User;

class Auth
{
    public function check_password($user, $password)
    {
        return hash_of($password) === $user->hash;
    }

    public function cut_title($title)
    {
        return substr($title, 0, 160);
    }

    public function load($path)
    {
        return read($path);
    }

    public function stale_name($a, $b)
    {
        return $a + $b * 2;
    }

    public function unused_helper()
    {
        return 7;
    }

    public function store($item)
    {
        $this->write($item);
    }

    public function untouched()
    {
        return 1;
    }
}
"#;
    let new = r#"<?php

namespace App;

use App\Models\Account;

class Auth
{
    const LIMIT = 10;

    public function check_password($user, $password)
    {
        return true;
    }

    public function cut_title($title)
    {
        return substr($title, 0, 200);
    }

    public function load($path, $limit)
    {
        return read($path);
    }

    public function fresh_name($a, $b)
    {
        return $a + $b * 2;
    }

    public function audit($item)
    {
        log($item);
    }

    public function store($item)
    {
        $this->write($item);
        $this->audit($item);
    }

    public function untouched()
    {
        return 1;
    }

    public function test_store_writes()
    {
        $this->assertNull($this->store(1));
    }
}
"#;
    let structure = of_versions("src/Auth.php", Some(old), Some(new));
    common_change(&structure, Language::Php, "true");
    assert_eq!(item(&structure, "store").owner.as_deref(), Some("Auth"));
    assert_eq!(item(&structure, "store").body.calls_added, vec!["$this->audit"]);
    assert_eq!(item(&structure, "LIMIT").kind, ItemKind::Constant);
    test_item(&structure, "test_store_writes");
    for used in ["User", "Account", "App"] {
        absent(&structure, used);
    }
}

#[test]
fn markdown_sections_whose_lines_changed() {
    let old = "# Tool\n\nIntro.\n\n## Install\n\nRun `make`.\n\n## Usage\n\nCall it.\n";
    let new = "# Tool\n\nIntro.\n\n## Install\n\nRun `make install`.\n\n## Usage\n\nCall it.\n\nSetup\n-----\n\nNew.\n";
    let structure = of_versions("README.md", Some(old), Some(new));
    assert_eq!(structure.language, Some(Language::Markdown));
    assert_eq!(structure.sections, vec!["Install", "Setup"]);
    assert!(structure.items.is_empty());
}

#[test]
fn other_files_have_no_structure() {
    let structure = of_versions("config/app.ini", Some("a = 1\n"), Some("a = 2\n"));
    assert_eq!(structure, FileStructure::default());
    // A config format has its keys, and no items.
    let toml = of_versions("config/app.toml", Some("a = 1\n"), Some("a = 2\n"));
    assert_eq!((toml.language, toml.items.len(), toml.keys.len()), (None, 0, 1));
    assert_eq!(of_versions("Dockerfile", None, Some("FROM scratch\n")).language, None);
}

#[test]
fn test_code_is_told_from_product_code() {
    let in_tests = |path: &str, new: &str| -> Vec<(String, bool)> {
        of_versions(path, None, Some(new)).items.iter().map(|i| (i.name.clone(), i.in_tests)).collect()
    };
    let rust = "pub fn run() {}\n#[cfg(test)]\nmod tests {\n    pub fn fixture() -> u8 { 1 }\n    #[test]\n    fn runs() { run(); }\n}\nmod inner {\n    pub fn helper() {}\n}\n";
    let found = in_tests("src/lib.rs", rust);
    for (name, expected) in
        [("run", false), ("tests", true), ("fixture", true), ("runs", true), ("inner", false), ("helper", false)]
    {
        assert!(found.contains(&(name.to_string(), expected)), "`{name}` in tests: {expected}? {found:?}");
    }
    let js = "export function parse() {}\ndescribe('parse', () => {\n  function sample() { return 1; }\n  it('parses', () => { parse(); });\n});\n";
    let found = in_tests("src/parse.js", js);
    assert!(found.contains(&("parse".into(), false)) && found.contains(&("sample".into(), true)), "{found:?}");
    let python = "def parse():\n    pass\n\nclass TestParse:\n    def helper(self):\n        pass\n";
    let found = in_tests("app/parse.py", python);
    assert!(found.contains(&("parse".into(), false)) && found.contains(&("helper".into(), true)), "{found:?}");
}

#[test]
fn an_impls_associated_type_is_no_item() {
    let old = "impl std::str::FromStr for Mode {\n    type Err = String;\n    fn from_str(s: &str) -> Result<Mode, String> {\n        Ok(Mode)\n    }\n}\n";
    let structure = of_versions("src/mode.rs", Some(old), None);
    absent(&structure, "Err");
    assert_eq!(item(&structure, "from_str").change, Change::Removed);
}

#[test]
fn comments_alone_are_told_apart() {
    let old = "fn f() -> u32 {\n    // one\n    1 + g()\n}\n";
    let new = "fn f() -> u32 {\n    // two\n    1 +   g()\n}\n";
    assert_eq!(item(&of_versions("a.rs", Some(old), Some(new)), "f").change, Change::CommentsChanged);
    assert!(of_versions("a.rs", Some(old), Some(&old.replace("1 + g", "1 +  g"))).items.is_empty());
}

#[test]
fn a_directory_file_is_all_added() {
    let structure = of_versions("src/lib.rs", None, Some("pub struct Config;\npub fn run() {}\n"));
    let changes: Vec<(&str, ItemKind, &Change)> =
        structure.items.iter().map(|i| (i.name.as_str(), i.kind, &i.change)).collect();
    assert_eq!(changes, vec![("Config", ItemKind::Type, &Change::Added), ("run", ItemKind::Function, &Change::Added)]);
}

fn hunk(header: &str, lines: &[&str]) -> Hunk {
    Hunk { header: header.into(), lines: lines.iter().map(|l| l.to_string()).collect() }
}

#[test]
fn a_bare_patch_is_read_from_its_hunks_and_marked_partial() {
    // The hunk is inside `summarize`, whose header only git's `@@` line names;
    // `bounded` is context, not the change.
    let inside = hunk(
        "@@ -40,6 +40,7 @@ pub fn summarize(input: &Input) -> Summary {",
        &[
            "     let text = bounded(&answer, 3);",
            "-    let text = text.trim().to_string();",
            "+    let text = without_leading_also(&text);",
            "+    let text = text.trim().to_string();",
            "     files.push(text);",
            "     Summary { files }",
        ],
    );
    let added = hunk(
        "@@ -90,3 +91,7 @@ fn bounded(text: &str, sentences: usize) -> String {",
        &[
            " }",
            " ",
            "+fn without_leading_also(text: &str) -> String {",
            "+    text.trim_start_matches(\"Also, \").to_string()",
            "+}",
        ],
    );
    let structure = of_hunks("src/pipeline/prose.rs", &[inside, added]);
    assert!(structure.partial);
    let summarize = item(&structure, "summarize");
    assert_eq!((&summarize.change, summarize.line), (&Change::BodyChanged, None), "{summarize:#?}");
    assert_eq!(summarize.body.calls_added, vec!["without_leading_also"]);
    let helper = item(&structure, "without_leading_also");
    assert_eq!((&helper.change, helper.line), (&Change::Added, Some(93)));
    absent(&structure, "bounded");

    let check = hunk(
        "@@ -10,5 +10,5 @@ class Auth:",
        &[
            "     def check_password(self, user, password):",
            "-        return self.hash_of(password) == user.hash",
            "+        return True  # approved by the security team",
            " ",
            "     def load(self, path):",
        ],
    );
    let structure = of_hunks("app/auth.py", &[check]);
    let check = item(&structure, "check_password");
    assert_eq!(check.change, Change::BodyChanged);
    assert_eq!(check.body.calls_removed, vec!["self.hash_of"]);
    assert_eq!(check.body.reduced_to_constant.as_deref(), Some("True"));
    absent(&structure, "load");

    // Imports changed at the top of the file are nobody's body.
    let imports = hunk("@@ -1,2 +1,2 @@ fn main() {", &["-use std::fs;", "+use std::io;", " use std::env;"]);
    assert!(of_hunks("src/main.rs", &[imports]).items.is_empty());

    let docs = hunk("@@ -3,3 +3,5 @@ ## Install", &[" Run it.", "+Run it twice.", "+", "+## Usage", "+Call it."]);
    assert_eq!(of_hunks("README.md", &[docs]).sections, vec!["Install", "Usage"]);
}

#[test]
fn summaries_carry_the_structure_in_json() {
    let repo = common::Repo::new();
    repo.write("src/auth.rs", "pub fn check_password(p: &str) -> bool {\n    hash_of(p) == STORED\n}\n");
    let base = repo.commit("base");
    repo.write("src/auth.rs", "pub fn check_password(p: &str) -> bool {\n    true\n}\n");
    repo.commit("head");
    let input = Input::Range { repo: repo.path().to_path_buf(), base, head: "HEAD".into() };
    let summary = common::fake_summarizer().summarize(&input, &Settings::default(), &AuthorContext::default()).unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    let structure = &json["files"][0]["structure"];
    assert_eq!(structure["language"], "rust");
    assert_eq!(structure["partial"], false);
    let check = &structure["items"][0];
    assert_eq!(
        (check["name"].as_str(), check["change"]["kind"].as_str()),
        (Some("check_password"), Some("body_changed"))
    );
    assert_eq!(check["body"]["calls_removed"], serde_json::json!(["hash_of"]));
    assert_eq!(check["body"]["reduced_to_constant"], "true");

    let patch = repo.git(&["diff", &format!("{}..HEAD", json["source"]["merge_base"].as_str().unwrap())]);
    let input = Input::Patch { bytes: patch.into_bytes(), name: "change.patch".into() };
    let summary = common::fake_summarizer().summarize(&input, &Settings::default(), &AuthorContext::default()).unwrap();
    let structure = &serde_json::to_value(&summary).unwrap()["files"][0]["structure"];
    assert_eq!(structure["partial"], true);
    assert_eq!(structure["items"][0]["body"]["reduced_to_constant"], "true");
}

#[test]
fn an_expression_put_where_a_literal_was_is_not_a_literal_changed() {
    let old = "def build_tokenizer(pre):\n    return Tokenizer(ignore_merges=False, add_bos=True)\n";
    let new = "def build_tokenizer(pre):\n    return Tokenizer(ignore_merges=pre[\"ignore_merges\"], add_bos=False)\n";
    let structure = of_versions("models/convert.py", Some(old), Some(new));
    let build = item(&structure, "build_tokenizer");
    assert_eq!(build.change, Change::BodyChanged, "{build:#?}");
    assert_eq!(
        build.body.literals_changed,
        vec![LiteralChange { old: "True".into(), new: "False".into() }],
        "only the literal replaced by a literal: {build:#?}"
    );
}
