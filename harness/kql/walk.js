// The in-V8 half of harness/kql/analyzer.py: declares a workspace to Kusto.Language and walks
// each analysed query once, returning plain JSON (one bridge call per query, never node by node).
//
// Runs after the vendored bridge.min.js and Kusto.Language.Bridge.min.js. Offsets are UTF-16 code
// units, as JavaScript strings count them; harness/kql/analyzer.py maps them to Python indices.
// Every walk is iterative: Kusto.Language builds left-deep trees for long `and`/`or` chains and
// pipelines, so a recursive walk could exhaust the stack on a legal query.

var __kqlf = (function () {
  "use strict";
  var K = Kusto.Language;
  var S = K.Symbols;
  var states = {};
  var NO_SPAN = null;

  // -- small helpers --------------------------------------------------------------------------

  function typeName(o) {
    if (o === null || o === undefined) return "";
    var ctor = o.constructor;
    if (ctor && Object.prototype.hasOwnProperty.call(ctor, "__kqlfName")) return ctor.__kqlfName;
    var full = Bridge.getTypeName(o) || "";
    var cut = full.search(/[`[]/);
    if (cut >= 0) full = full.slice(0, cut);
    var name = full.slice(full.lastIndexOf(".") + 1);
    var plus = name.indexOf("+");
    if (plus >= 0) name = name.slice(0, plus);
    if (ctor) ctor.__kqlfName = name;
    return name;
  }

  function items(list) {
    var out = [];
    if (!list) return out;
    for (var i = 0; i < list.Count; i++) {
      var e = list.getItem(i);
      out.push(typeName(e) === "SeparatedElement" ? e.Element : e);
    }
    return out;
  }

  function span(node) {
    return node ? [node.TextStart, node.End] : NO_SPAN;
  }

  function unwrap(e) {
    while (e && typeName(e) === "ParenthesizedExpression") e = e.Expression;
    return e;
  }

  function isColumn(sym) {
    return !!sym && typeName(sym) === "ColumnSymbol";
  }

  function typeOf(e) {
    var t = e && e.ResultType;
    return t ? t.Name : null;
  }

  // A constant's value as JSON: strings, numbers and booleans as such, longs as decimal text
  // (exact beyond 2**53), timespans as 100 ns ticks (decimal text). Null when not constant.
  var CONSTANT_NODES = {
    LiteralExpression: true,
    CompoundStringLiteralExpression: true,
    PrefixUnaryExpression: true,
    NameReference: true,
    DynamicExpression: true,
  };

  function constant(e, text) {
    e = unwrap(e);
    if (!e || !e.IsConstant) return null;
    var kind = typeName(e);
    if (!CONSTANT_NODES[kind]) return null; // ago(1d), strcat("a", "b"): computed, not written down
    if (kind === "PrefixUnaryExpression" && e.Operator && e.Operator.Text === "-") {
      var inner = constant(e.Expression, text);
      if (inner === null) return null;
      if (typeof inner.value === "string" && /^\d/.test(inner.value)) inner.value = "-" + inner.value;
      else if (typeof inner.value === "number") inner.value = -inner.value;
      else return null;
      inner.text = text.substring(e.TextStart, e.End);
      return inner;
    }
    var v = e.ConstantValue;
    var type = typeOf(e);
    var out = { type: type, text: text.substring(e.TextStart, e.End), value: null };
    if (v === null || v === undefined) return out;
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") {
      out.value = v;
    } else if (v.getTicks) {
      out.value = v.getTicks().toString();
    } else if (type === "long" || type === "int" || type === "decimal" || type === "real") {
      out.value = v.toString();
    }
    return out;
  }

  // -- declaring a workspace -----------------------------------------------------------------

  // A stored function's definition, `.create-or-alter function [with (...)] Name(params) { body }`
  // (or `function Name(...) {...}`), read without the control-command grammar: building that
  // grammar costs a second per process, so only the header is matched here and the rest is
  // parsed as the query `let Name = (params) { body }`.
  var DEFINITION =
    /^(?:\s*\/\/[^\n]*\n)*\s*(?:\.(?:create-or-alter|create|alter)\s+)?function\s+(?:with\s*\((?:[^()'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\)\s*)?(\[(?:[^\]'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\]|[A-Za-z_$][\w$]*)\s*(?=\()/i;

  function functionDeclaration(text) {
    var m = DEFINITION.exec(text);
    if (!m) return { name: null, errors: ["not a function definition"] };
    var source = "let " + m[1] + " = " + text.slice(m[0].length);
    var code = K.KustoCode.Parse(source, K.GlobalState.Default);
    var found = null;
    var name = null;
    code.Syntax.WalkNodes(function (n) {
      if (found) return;
      if (typeName(n) === "FunctionDeclaration") found = n;
      else if (typeName(n) === "LetStatement" && n.Name) name = n.Name.SimpleName;
    });
    if (!found) return { name: name, errors: ["not a function definition"] };
    var errors = [];
    var diags = code.GetSyntaxDiagnostics();
    for (var d = 0; d < diags.Count; d++) {
      var diag = diags.getItem(d);
      if (diag.Severity === "Error") errors.push(diag.Code + ": " + diag.Message);
    }
    return {
      name: name,
      parameters: source.substring(found.Parameters.TextStart, found.Parameters.End),
      body: source.substring(found.Body.TextStart, found.Body.End),
      errors: errors,
    };
  }

  // spec: {database, tables: [{name, columns: [[name, type], ...]}], functions: [{definition}]}
  function declare(key, specJson) {
    var spec = JSON.parse(specJson);
    var members = [];
    var problems = [];
    var functions = [];
    spec.tables.forEach(function (t) {
      var columns = t.columns.map(function (c) {
        var type = S.ScalarTypes.GetSymbol(c[1]);
        if (!type) problems.push({ what: "table " + t.name, reason: "unknown column type " + c[1] + " of " + c[0] });
        return new S.ColumnSymbol(c[0], type || S.ScalarTypes.Unknown, null, null, null, null);
      });
      members.push(new S.TableSymbol.$ctor4(t.name, columns));
    });
    spec.functions.forEach(function (f, index) {
      var decl = functionDeclaration(f.definition);
      if (decl.errors.length) {
        problems.push({ what: "function " + (decl.name || "#" + (index + 1)), reason: decl.errors.join("; ") });
        return;
      }
      members.push(new S.FunctionSymbol.$ctor16(decl.name, decl.parameters, decl.body, ""));
      functions.push(decl.name);
    });
    states[key] = K.GlobalState.Default.WithDatabase(new S.DatabaseSymbol.ctor(spec.database, members)).WithCache();
    return JSON.stringify({ problems: problems, functions: functions });
  }

  function forget(key) {
    delete states[key];
  }

  // -- analysing one query -------------------------------------------------------------------

  var STATEMENTS = {
    LetStatement: "let",
    ExpressionStatement: "query",
    SetOptionStatement: "set",
    QueryParametersStatement: "declare",
    AliasStatement: "alias",
    PatternStatement: "pattern",
    RestrictStatement: "restrict",
  };
  var COMMANDS = {
    CustomCommand: true,
    Command: true,
    BadCommand: true,
    UnknownCommand: true,
    PartialCommand: true,
    CommandAndSkippedTokens: true,
    CommandWithClause: true,
  };
  var NOT_COMPARISONS = { and: true, or: true, "+": true, "-": true, "*": true, "/": true, "%": true };
  var AGGREGATING = {
    SummarizeOperator: true,
    CountOperator: true,
    MakeSeriesOperator: true,
    TopNestedOperator: true,
    TopHittersOperator: true,
  };
  var TIME_FUNCTIONS = { ago: true, now: true };
  var MAX_FUNCTION_DEPTH = 8;

  function Walker(code, globals, options) {
    this.code = code;
    this.text = code.Text;
    this.g = globals;
    this.options = options;
    this.out = {
      kind: code.Kind,
      diagnostics: [],
      result: null,
      statements: [],
      has_command: false,
      tables: [],
      functions: [],
      pipelines: [],
      stages: [],
      comparisons: [],
      lists: [],
      time_windows: [],
      timespans: [],
      joins: [],
      aggregations: [],
      tree: null,
    };
    this.pipes = [];
    this.syntax = {}; // node types seen in the query text
    this.stageOf = new Map(); // QueryOperator node -> stage id
    this.expanded = new Set(); // called function bodies already walked
  }

  Walker.prototype.run = function () {
    this.diagnostics();
    this.result();
    this.statements();
    this.walk(this.code.Syntax, null, 0, null);
    this.pipelines();
    this.late();
    this.out.syntax = Object.keys(this.syntax).sort();
    if (this.options.tree) this.tree();
    return this.out;
  };

  Walker.prototype.diagnostics = function () {
    // Which diagnostics the parser reports (the rest come from binding: names, types, arity).
    var syntax = this.code.GetSyntaxDiagnostics();
    this.syntaxKeys = {};
    for (var i = 0; i < syntax.Count; i++) {
      var s = syntax.getItem(i);
      this.syntaxKeys[s.Code + "@" + s.Start + ":" + s.Length] = true;
    }
    this.addDiagnostics(this.code.GetDiagnostics(), false);
    // Kusto.Language's analyzers (KS5xx: performance and correctness advice, as the portal's editor shows).
    if (this.options.analyzers) {
      var service = new K.Editor.KustoCodeService.ctor(this.code);
      this.addDiagnostics(service.GetAnalyzerDiagnostics(true), true);
    }
  };

  Walker.prototype.addDiagnostics = function (ds, analyzer) {
    for (var i = 0; i < ds.Count; i++) {
      var d = ds.getItem(i);
      this.out.diagnostics.push({
        analyzer: analyzer,
        syntax: !analyzer && !!this.syntaxKeys[d.Code + "@" + d.Start + ":" + d.Length],
        code: d.Code,
        severity: d.Severity,
        category: d.Category,
        message: d.Message,
        start: d.HasLocation ? d.Start : null,
        length: d.HasLocation ? d.Length : null,
      });
    }
  };

  function columnsOf(type) {
    if (!type || !type.Columns) return null;
    var cols = [];
    for (var i = 0; i < type.Columns.Count; i++) {
      var c = type.Columns.getItem(i);
      cols.push([c.Name, c.Type ? c.Type.Name : "unknown"]);
    }
    return cols;
  }

  Walker.prototype.result = function () {
    var t = this.code.ResultType;
    if (!t) return;
    var cols = columnsOf(t);
    if (cols) this.out.result = { tabular: true, open: !!t.IsOpen, columns: cols, type: null };
    else this.out.result = { tabular: false, open: false, columns: [], type: t.Name };
  };

  Walker.prototype.statements = function () {
    var root = this.code.Syntax;
    var isCommand = this.code.Kind === "Command";
    for (var i = 0; i < root.ChildCount; i++) {
      var child = root.GetChild(i);
      if (child && typeName(child) === "SkippedTokens") {
        // Text the parser could not read as a statement (an error says so). A leading `.` is a
        // control command after a query statement (`T | take 1; .drop table T`): say so too.
        var first = child.GetFirstToken();
        var dotted = !!first && first.Text === ".";
        if (dotted) this.out.has_command = true;
        this.out.statements.push({ kind: dotted ? "command" : "other", span: span(child), name: null, value: null });
        continue;
      }
      if (!child || child.IsToken || typeName(child) !== "SyntaxList") continue;
      var list = items(child);
      for (var j = 0; j < list.length; j++) {
        var st = list[j];
        if (!(st instanceof K.Syntax.Statement)) continue;
        var type = typeName(st);
        var kind = STATEMENTS[type] || type;
        var entry = { kind: kind, span: span(st), name: null, value: null, tabular: false, function: false };
        if (type === "LetStatement") {
          entry.name = st.Name ? st.Name.SimpleName : null;
          var value = unwrap(st.Expression);
          entry.value = span(st.Expression);
          entry.function = typeName(value) === "FunctionDeclaration";
          var t = st.Expression && st.Expression.ResultType;
          entry.tabular = !!(t && t.Columns);
        } else if (type === "ExpressionStatement") {
          entry.value = span(st.Expression);
          if (isCommand || COMMANDS[typeName(st.Expression)]) entry.kind = "command";
        }
        this.out.statements.push(entry);
      }
    }
  };

  // Pre-order, document order, iterative. `via`: the stored function whose body is walked,
  // `site`: the node that called it in the query text (what spans point at).
  Walker.prototype.walk = function (root, via, depth, site) {
    var stack = [root];
    while (stack.length) {
      var n = stack.pop();
      if (!n || n.IsToken) continue;
      this.visit(n, via, depth, site);
      for (var i = n.ChildCount - 1; i >= 0; i--) {
        var c = n.GetChild(i);
        if (c && !c.IsToken) stack.push(c);
      }
    }
  };

  Walker.prototype.visit = function (n, via, depth, site) {
    var type = typeName(n);
    if (COMMANDS[type]) this.out.has_command = true;
    if (!via) this.syntax[type] = true;
    switch (type) {
      case "NameReference":
        this.nameReference(n, via, depth, site);
        break;
      case "FunctionCallExpression":
        this.call(n, n.ReferencedSymbol, n.Name ? n.Name.SimpleName : n.toString().trim(), via, depth, site);
        break;
      case "PipeExpression":
        if (!via) this.pipes.push(n);
        break;
      case "BinaryExpression":
        if (!via) this.binary(n);
        break;
      case "InExpression":
      case "HasAnyExpression":
      case "HasAllExpression":
        if (!via) this.list(n);
        break;
      case "LiteralExpression":
        if (!via && typeOf(n) === "timespan") this.timespan(n);
        break;
      default:
        break;
    }
  };

  Walker.prototype.addTable = function (sym, node, via, site) {
    var self = this;
    if (!sym) return;
    var kind = typeName(sym);
    if (kind === "GroupSymbol" && sym.Members) {
      items(sym.Members).forEach(function (m) {
        self.addTable(m, node, via, site);
      });
      return;
    }
    if (kind !== "TableSymbol" || !this.g.IsDatabaseTable(sym)) return;
    this.out.tables.push({ name: sym.Name, span: span(site || node), via: via });
  };

  Walker.prototype.nameReference = function (n, via, depth, site) {
    var sym = n.ReferencedSymbol;
    if (!sym) return;
    var kind = typeName(sym);
    if (kind === "TableSymbol" || kind === "GroupSymbol") {
      this.addTable(sym, n, via, site);
    } else if (kind === "FunctionSymbol") {
      var parent = n.Parent;
      if (parent && typeName(parent) === "FunctionCallExpression" && parent.Name === n) return;
      this.call(n, sym, n.SimpleName, via, depth, site); // a parameterless function called without ()
    }
  };

  Walker.prototype.functionKind = function (sym) {
    if (!sym || typeName(sym) !== "FunctionSymbol") return "unknown";
    var g = this.g;
    if (g.IsAggregateFunction(sym)) return "aggregate";
    if (g.GetPlugIn(sym.Name) === sym) return "plugin";
    if (g.IsBuiltInFunction(sym)) return "builtin";
    if (g.IsDatabaseFunction(sym)) return "stored";
    return "local";
  };

  Walker.prototype.call = function (n, sym, name, via, depth, site) {
    var kind = this.functionKind(sym);
    var entry = { name: sym ? sym.Name : name, kind: kind, span: span(site || n), via: via };
    if (kind === "stored" && !via) entry.parameters = parameters(sym);
    this.out.functions.push(entry);
    if (kind === "builtin" && sym.Name === "table" && n.ResultType) this.addTable(n.ResultType, n, via, site);
    if (!via && kind === "builtin" && TIME_FUNCTIONS[sym.Name]) this.timeWindow(n, sym.Name);
    if (kind !== "stored" || depth >= MAX_FUNCTION_DEPTH) return;
    var body = n.GetCalledFunctionBody ? n.GetCalledFunctionBody() : null;
    if (!body || this.expanded.has(body)) return;
    this.expanded.add(body);
    this.walk(body, via || sym.Name, depth + 1, site || n);
  };

  // A stored function's declared parameters, in order: [name, default value as written, or null].
  function parameters(sym) {
    var sigs = sym && sym.Signatures;
    if (!sigs || sigs.Count !== 1) return null; // overloads: no single order to speak of
    var out = [];
    var ps = sigs.getItem(0).Parameters;
    for (var i = 0; i < ps.Count; i++) {
      var p = ps.getItem(i);
      var d = p.DefaultValue;
      out.push([p.Name, d === null || d === undefined ? null : String(d.toString()).trim()]);
    }
    return out;
  }

  // -- comparisons, lists and time literals --------------------------------------------------

  // Where a column's values come from: (table, column) pairs, through renames, joins and unions.
  Walker.prototype.origins = function (col) {
    var out = [];
    var seen = new Set();
    var todo = [col];
    var g = this.g;
    while (todo.length && seen.size < 64) {
      var c = todo.pop();
      if (!c || seen.has(c)) continue;
      seen.add(c);
      var table = g.GetTable(c);
      if (table && g.IsDatabaseTable(table)) {
        out.push([table.Name, c.Name]);
        continue;
      }
      items(c.OriginalColumns).forEach(function (o) {
        todo.push(o);
      });
      var src = unwrap(c.Source);
      if (src && isColumn(src.ReferencedSymbol)) todo.push(src.ReferencedSymbol);
    }
    return out;
  };

  // The summarize/count/make-series that produced a column, when it is an aggregate's output.
  function aggregator(col) {
    var p = col && col.Source;
    while (p) {
      if (AGGREGATING[typeName(p)]) return p;
      p = p.Parent;
    }
    return null;
  }

  Walker.prototype.columnSide = function (e) {
    e = unwrap(e);
    if (!e) return null;
    var sym = e.ReferencedSymbol;
    if (!isColumn(sym)) return null;
    var agg = aggregator(sym);
    return {
      column: sym.Name,
      span: span(e),
      origins: this.origins(sym),
      aggregate: agg ? { operator: typeName(agg), span: span(agg) } : null,
    };
  };

  Walker.prototype.binary = function (n) {
    var op = n.Operator ? n.Operator.Text : "";
    if (NOT_COMPARISONS[op.toLowerCase()]) return;
    var left = this.columnSide(n.Left);
    var right = left ? constant(n.Right, this.text) : null;
    var reversed = false;
    if (!left || !right) {
      var l2 = this.columnSide(n.Right);
      var r2 = l2 ? constant(n.Left, this.text) : null;
      if (!l2 || !r2) return;
      left = l2;
      right = r2;
      reversed = true;
    }
    var literalNode = reversed ? n.Left : n.Right;
    this.out.comparisons.push({
      column: left,
      operator: op,
      literal: right,
      literal_span: span(literalNode),
      span: span(n),
      reversed: reversed,
      list: null,
    });
  };

  // The items of a list literal: inline, a dynamic([...]) array, or a let-bound dynamic array.
  function listItems(right) {
    var exprs = items(right && right.Expressions);
    var via = null;
    if (exprs.length === 1) {
      var only = unwrap(exprs[0]);
      var sym = only && only.ReferencedSymbol;
      if (sym && typeName(sym) === "VariableSymbol" && sym.Source) {
        via = sym.Name;
        only = unwrap(sym.Source);
      }
      if (only && typeName(only) === "DynamicExpression") {
        var json = unwrap(only.Expression);
        if (json && typeName(json) === "JsonArrayExpression") exprs = items(json.Values);
        else return { via: via, exprs: [], complete: false };
      } else if (via) {
        return { via: via, exprs: [], complete: false };
      }
    }
    return { via: via, exprs: exprs, complete: true };
  }

  Walker.prototype.list = function (n) {
    var op = n.Operator ? n.Operator.Text : typeName(n);
    var column = this.columnSide(n.Left);
    var found = listItems(n.Right);
    var values = [];
    var complete = found.complete;
    var index = this.out.lists.length;
    for (var i = 0; i < found.exprs.length; i++) {
      var e = found.exprs[i];
      var c = constant(e, this.text);
      if (!c) {
        complete = false;
        continue;
      }
      c.span = span(e);
      values.push(c);
      if (column) {
        this.out.comparisons.push({
          column: column,
          operator: op,
          literal: { type: c.type, text: c.text, value: c.value },
          literal_span: c.span,
          span: span(n),
          reversed: false,
          list: index,
        });
      }
    }
    this.out.lists.push({
      operator: op,
      span: span(n),
      left: span(n.Left),
      column: column,
      items: values,
      complete: complete,
      variable: found.via,
    });
  };

  Walker.prototype.timeWindow = function (n, name) {
    var args = items(n.ArgumentList && n.ArgumentList.Expressions);
    var arg = args.length ? args[0] : null;
    this.out.time_windows.push({
      function: name,
      span: span(n),
      argument: arg ? constant(arg, this.text) : null,
      argument_span: span(arg),
    });
  };

  Walker.prototype.timespan = function (n) {
    var c = constant(n, this.text);
    if (!c) return;
    var p = n.Parent;
    var fn = null;
    var letName = null;
    for (var hops = 0; p && hops < 4; hops++, p = p.Parent) {
      var t = typeName(p);
      if (t === "FunctionCallExpression") {
        fn = p.Name ? p.Name.SimpleName : null;
        break;
      }
      if (t === "LetStatement") {
        letName = p.Name ? p.Name.SimpleName : null;
        break;
      }
      if (t !== "SeparatedElement" && t !== "SyntaxList" && t !== "ExpressionList" && t !== "PrefixUnaryExpression")
        break;
    }
    this.out.timespans.push({ span: span(n), value: c, function: fn, let: letName });
  };

  // -- pipelines and stages ------------------------------------------------------------------

  Walker.prototype.pipelines = function () {
    var self = this;
    var heads = this.pipes.filter(function (p) {
      var parent = p.Parent;
      return !(parent && typeName(parent) === "PipeExpression" && parent.Expression === p);
    });
    heads.sort(function (a, b) {
      return a.TextStart - b.TextStart || b.End - a.End;
    });
    // Every stage first, so a pipeline's context can name the stage that contains it.
    var chains = heads.map(function (head) {
      var chain = [];
      var e = head;
      while (e && typeName(e) === "PipeExpression") {
        chain.unshift(e);
        e = e.Expression;
      }
      return { head: head, chain: chain, source: e };
    });
    var pid = 0;
    chains.forEach(function (p) {
      p.id = pid++;
      p.stages = p.chain.map(function (pe) {
        var id = self.out.stages.length;
        self.stageOf.set(pe.Operator, id);
        self.out.stages.push(self.stage(pe, id, p.id));
        return id;
      });
    });
    chains.forEach(function (p) {
      var ctx = self.context(p.head);
      self.out.pipelines.push({
        id: p.id,
        span: span(p.head),
        source: span(p.source),
        stages: p.stages,
        context: ctx.kind,
        name: ctx.name,
        parent_stage: ctx.stage,
        parent_pipeline: ctx.pipeline,
        depth: 0,
      });
    });
    this.out.pipelines.forEach(function (p) {
      var depth = 0;
      var q = p;
      while (q && depth < 1000) {
        var parent = q.parent_pipeline;
        if (parent === null) break;
        depth++;
        q = self.out.pipelines[parent];
      }
      p.depth = depth;
    });
  };

  Walker.prototype.context = function (head) {
    var child = head;
    var p = head.Parent;
    var role = null; // join / lookup / union: the operator whose subquery this pipeline is
    while (p) {
      var t = typeName(p);
      if (!role && (t === "JoinOperator" || t === "LookupOperator") && p.Expression === child)
        role = t === "JoinOperator" ? "join" : "lookup";
      else if (!role && t === "UnionOperator") role = "union";
      if (t === "PipeExpression") {
        var pipeline = this.pipelineOfPipe(p);
        if (p.Expression === child) return { kind: role || "source", name: null, stage: null, pipeline: pipeline };
        var stage = this.stageOf.get(p.Operator);
        return { kind: role || "expression", name: null, stage: stage === undefined ? null : stage, pipeline: pipeline };
      }
      if (t === "LetStatement") {
        var fn = typeName(unwrap(p.Expression)) === "FunctionDeclaration";
        return { kind: role || (fn ? "function" : "let"), name: p.Name ? p.Name.SimpleName : null, stage: null, pipeline: null };
      }
      if (t === "ExpressionStatement") return { kind: role || "query", name: null, stage: null, pipeline: null };
      child = p;
      p = p.Parent;
    }
    return { kind: role || "other", name: null, stage: null, pipeline: null };
  };

  Walker.prototype.pipelineOfPipe = function (pe) {
    var id = this.stageOf.get(pe.Operator);
    return id === undefined ? null : this.out.stages[id].pipeline;
  };

  function sortKeys(exprs) {
    return exprs.map(function (e) {
      var ordered = typeName(e) === "OrderedExpression" ? e : null;
      var inner = unwrap(ordered ? ordered.Expression : e);
      var direction = ordered && ordered.Ordering && ordered.Ordering.AscOrDescKeyword;
      var nulls = ordered && ordered.Ordering && ordered.Ordering.NullsClause;
      return {
        span: span(e),
        column: inner && typeName(inner) === "NameReference" ? inner.SimpleName : null,
        descending: direction ? direction.Text.toLowerCase() !== "asc" : true,
        nulls: nulls ? nulls.toString().trim() : null,
      };
    });
  }

  Walker.prototype.stage = function (pe, id, pipeline) {
    var op = pe.Operator;
    var type = typeName(op);
    var first = op.GetFirstToken();
    var st = {
      id: id,
      pipeline: pipeline,
      operator: type,
      keyword: first ? first.Text : "",
      span: span(op),
      prefix: span(pe),
      condition: null,
      subqueries: [],
      sort: null,
      columns: null,
    };
    if (type === "FilterOperator") st.condition = span(op.Condition);
    else if (type === "JoinOperator" || type === "LookupOperator") st.subqueries = [span(op.Expression)];
    else if (type === "UnionOperator") st.subqueries = items(op.Expressions).map(span);
    else if (type === "SortOperator") st.sort = sortKeys(items(op.Expressions));
    else if (type === "TopOperator" && op.ByExpression) st.sort = sortKeys([op.ByExpression]);
    if (type === "JoinOperator" || type === "LookupOperator") this.join(op, id, type);
    if (type === "SummarizeOperator") this.summarize(op, pe, id);
    if (this.options.stage_columns) st.columns = columnsOf(pe.ResultType);
    return st;
  };

  Walker.prototype.join = function (op, stage, type) {
    var kind = null;
    var kindSpan = null;
    items(op.Parameters).forEach(function (p) {
      if (p.Name && p.Name.SimpleName && p.Name.SimpleName.toLowerCase() === "kind") {
        kind = p.Expression ? p.Expression.toString().trim() : null;
        kindSpan = span(p.Expression);
      }
    });
    var on = [];
    var where = null;
    var cond = op.ConditionClause;
    if (cond && typeName(cond) === "JoinOnClause") on = items(cond.Expressions).map(span);
    else if (cond && cond.Condition) where = span(cond.Condition);
    this.out.joins.push({
      stage: stage,
      operator: type === "JoinOperator" ? "join" : "lookup",
      kind: kind || (type === "JoinOperator" ? "innerunique" : "leftouter"),
      explicit: kind !== null,
      kind_span: kindSpan,
      right: span(op.Expression),
      on: on,
      where: where,
    });
  };

  Walker.prototype.summarize = function (op, pe, stage) {
    var named = function (e) {
      var name = null;
      var inner = e;
      if (typeName(e) === "SimpleNamedExpression") {
        name = e.Name ? e.Name.SimpleName : null;
        inner = e.Expression;
      }
      inner = unwrap(inner);
      var fn = inner && typeName(inner) === "FunctionCallExpression" && inner.Name ? inner.Name.SimpleName : null;
      return { name: name, function: fn, span: span(e) };
    };
    var by = op.ByClause ? items(op.ByClause.Expressions).map(named) : [];
    var cols = columnsOf(pe.ResultType) || [];
    for (var i = 0; i < by.length && i < cols.length; i++) if (!by[i].name) by[i].name = cols[i][0];
    this.out.aggregations.push({
      stage: stage,
      aggregates: items(op.Aggregates).map(named),
      by: by,
      columns: cols.map(function (c) {
        return c[0];
      }),
    });
  };

  // Facts that need every stage numbered first.
  Walker.prototype.late = function () {
    var self = this;
    this.out.comparisons.forEach(function (c) {
      var agg = c.column.aggregate;
      if (!agg) return;
      agg.stage = null;
      self.out.stages.forEach(function (st) {
        if (st.span[0] === agg.span[0] && st.span[1] === agg.span[1]) agg.stage = st.id;
      });
    });
  };

  // -- the full tree, on request ---------------------------------------------------------------

  Walker.prototype.tree = function () {
    var nodes = [];
    var stack = [[this.code.Syntax, -1]];
    while (stack.length) {
      var top = stack.pop();
      var n = top[0];
      if (!n) continue;
      var index = nodes.length;
      var sym = n.IsToken ? null : n.ReferencedSymbol;
      nodes.push([
        typeName(n),
        n.TextStart,
        n.End,
        top[1],
        n.IsToken ? n.Text : null,
        n.IsToken ? null : typeOf(n) || null,
        sym ? typeName(sym) : null,
        sym ? sym.Name : null,
      ]);
      if (n.IsToken) continue;
      for (var i = n.ChildCount - 1; i >= 0; i--) stack.push([n.GetChild(i), index]);
    }
    this.out.tree = nodes;
  };

  function analyze(key, text, optionsJson) {
    var globals = states[key];
    if (!globals) throw new Error("workspace " + key + " is not declared");
    var options = JSON.parse(optionsJson);
    var code = K.KustoCode.ParseAndAnalyze(text, globals);
    return JSON.stringify(new Walker(code, globals, options).run());
  }

  return { declare: declare, forget: forget, analyze: analyze };
})();
