"""The JavaScript side of ``qjs.inspect``: node's ``util.inspect`` layout, run
inside the context that owns the value.

``SOURCE`` is an expression evaluating to a factory. It is compiled once per
context, on first use, and called with three native functions (``classId``,
``promiseInfo``, ``proxyTarget``, see _inspector.pxi). It captures every
intrinsic it uses at that moment, so later patches of builtins by user code do
not change it; the function it returns is frozen and kept by the context, out
of reach of user code.

``run(mode, depth, colors, maxArrayLength, maxStringLength, breakLength,
maxOutput, ...values)``: mode 0 inspects ``values[0]``, mode 1 formats the
values like ``console.log`` (``util.format``), mode 2 is a one-line preview.
"""

SOURCE = r"""
(function (classId, promiseInfo, proxyTarget) {
'use strict';
const O = Object, R = Reflect;
const uncurry = Function.prototype.bind.bind(Function.prototype.call);
const getProto = O.getPrototypeOf, getDesc = O.getOwnPropertyDescriptor;
const objKeys = O.keys, getSymbols = O.getOwnPropertySymbols, ownKeys = R.ownKeys;
const getNames = O.getOwnPropertyNames;
const freeze = O.freeze, isArray = Array.isArray, objIs = O.is;
const hasOwn = uncurry(O.prototype.hasOwnProperty);
const isEnumerable = uncurry(O.prototype.propertyIsEnumerable);
const push = uncurry(Array.prototype.push), join = uncurry(Array.prototype.join);
const arrIncludes = uncurry(Array.prototype.includes), arrIndexOf = uncurry(Array.prototype.indexOf);
const arrPop = uncurry(Array.prototype.pop), arrSort = uncurry(Array.prototype.sort);
const arrUnshift = uncurry(Array.prototype.unshift), arrSplice = uncurry(Array.prototype.splice);
const MapCtor = Map, mapGet = uncurry(Map.prototype.get), mapSet = uncurry(Map.prototype.set);
const strSlice = uncurry(String.prototype.slice), strIndexOf = uncurry(String.prototype.indexOf);
const strIncludes = uncurry(String.prototype.includes), strRepeat = uncurry(String.prototype.repeat);
const strStarts = uncurry(String.prototype.startsWith), strEnds = uncurry(String.prototype.endsWith);
const strSplit = uncurry(String.prototype.split), charCodeAt = uncurry(String.prototype.charCodeAt);
const padStart = uncurry(String.prototype.padStart), padEnd = uncurry(String.prototype.padEnd);
const strToLower = uncurry(String.prototype.toLowerCase);
const numToString = uncurry(Number.prototype.toString);
const reExec = uncurry(RegExp.prototype.exec), reToString = uncurry(RegExp.prototype.toString);
const fnToString = uncurry(Function.prototype.toString);
const symToString = uncurry(Symbol.prototype.toString);
const numValueOf = uncurry(Number.prototype.valueOf), strValueOf = uncurry(String.prototype.valueOf);
const boolValueOf = uncurry(Boolean.prototype.valueOf), bigValueOf = uncurry(BigInt.prototype.valueOf);
const symValueOf = uncurry(Symbol.prototype.valueOf);
const dateGetTime = uncurry(Date.prototype.getTime), dateISO = uncurry(Date.prototype.toISOString);
const dateToString = uncurry(Date.prototype.toString);
const errToString = uncurry(Error.prototype.toString);
const getter = (proto, name) => uncurry(getDesc(proto, name).get);
const mapSize = getter(Map.prototype, 'size'), setSize = getter(Set.prototype, 'size');
const mapEntries = uncurry(Map.prototype.entries), setValues = uncurry(Set.prototype.values);
const mapIterNext = uncurry(getProto(new Map().entries()).next);
const setIterNext = uncurry(getProto(new Set().values()).next);
const TypedArray = getProto(Uint8Array);
const taLength = getter(TypedArray.prototype, 'length');
const abByteLength = getter(ArrayBuffer.prototype, 'byteLength');
const U8 = Uint8Array, MathMin = Math.min, MathMax = Math.max, MathSqrt = Math.sqrt;
const MathRound = Math.round, MathFloor = Math.floor, StringCtor = String, NumberCtor = Number;
const parseIntF = parseInt, parseFloatF = parseFloat, isNaNF = NumberCtor.isNaN;
const jsonStringify = JSON.stringify;
const symToStringTag = Symbol.toStringTag, symIterator = Symbol.iterator;
const EmptyArray = Array;

const ID = O.create(null);
const setId = (name, v) => { ID[classId(v)] = name; };
setId('Map', new Map()); setId('Set', new Set());
setId('WeakMap', new WeakMap()); setId('WeakSet', new WeakSet());
setId('DataView', new DataView(new ArrayBuffer(0)));
setId('RegExp', /x/); setId('Date', new Date(0)); setId('Error', new Error());
setId('ArrayBuffer', new ArrayBuffer(0)); setId('Promise', Promise.resolve());
if (typeof SharedArrayBuffer === 'function') setId('SharedArrayBuffer', new SharedArrayBuffer(0));
setId('Number', O(0)); setId('String', O('')); setId('Boolean', O(false));
setId('Symbol', O(Symbol())); setId('BigInt', O(0n));
setId('Arguments', (function () { return arguments; })());
try { setId('Arguments', Function('return arguments')()); } catch (e) { /* no sloppy code */ }
setId('MapIterator', new Map().entries()); setId('SetIterator', new Set().values());
setId('Proxy', new Proxy({}, {}));
setId('GeneratorFunction', function* () {});
setId('AsyncFunction', async function () {});
setId('AsyncGeneratorFunction', async function* () {});
const TYPED = ['Int8Array', 'Uint8Array', 'Uint8ClampedArray', 'Int16Array', 'Uint16Array',
  'Int32Array', 'Uint32Array', 'Float16Array', 'Float32Array', 'Float64Array',
  'BigInt64Array', 'BigUint64Array'];
const typedIds = O.create(null);
for (let i = 0; i < TYPED.length; i++) {
  const C = globalThis[TYPED[i]];
  if (typeof C === 'function') typedIds[classId(new C(0))] = TYPED[i];
}
let moduleId = -1;
const kindOf = (v) => ID[classId(v)];

// builtin constructors whose toString %s shows through inspect
const builtinToString = new Set();
for (const C of [Object, Array, Error, Date, RegExp, Function, Map, Set, Promise,
  WeakMap, WeakSet, ArrayBuffer, DataView, TypedArray]) {
  const d = getDesc(C.prototype, 'toString');
  if (d && typeof d.value === 'function') builtinToString.add(d.value);
}
const setHas = uncurry(Set.prototype.has);

const STYLES = freeze({ special: 36, number: 33, bigint: 33, boolean: 33, undefined: 90,
  null: 1, string: 32, symbol: 32, date: 35, regexp: 31, module: 4 });
const CLOSE = freeze({ 1: 22, 4: 24 });
const meta = [];
for (let i = 0; i < 160; i++) meta[i] = '';
for (let i = 0; i < 32; i++) meta[i] = '\\x' + padStart(numToString(i, 16).toUpperCase(), 2, '0');
meta[8] = '\\b'; meta[9] = '\\t'; meta[10] = '\\n'; meta[12] = '\\f'; meta[13] = '\\r';
meta[39] = "\\'"; meta[92] = '\\\\';
for (let i = 127; i < 160; i++) meta[i] = '\\x' + numToString(i, 16).toUpperCase();
meta[0] = '\\x00';

function stylize(ctx, str, style) {
  if (!ctx.colors) return str;
  const code = STYLES[style];
  if (code === undefined) return str;
  return '\x1b[' + code + 'm' + str + '\x1b[' + (CLOSE[code] || 39) + 'm';
}

function strEscape(str) {
  let quote = 39;
  let q = "'";
  if (strIncludes(str, "'")) {
    if (!strIncludes(str, '"')) { quote = -1; q = '"'; }
    else if (!strIncludes(str, '`') && !strIncludes(str, '${')) { quote = -2; q = '`'; }
  }
  let result = '';
  let last = 0;
  const n = str.length;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt(str, i);
    if (c === quote || c === 92 || c < 32 || (c > 126 && c < 160)) {
      result += strSlice(str, last, i) + (c === quote && quote === 39 ? "\\'" : meta[c]);
      last = i + 1;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      if (c <= 0xdbff && i + 1 < n) {
        const d = charCodeAt(str, i + 1);
        if (d >= 0xdc00 && d <= 0xdfff) { i++; continue; }
      }
      result += strSlice(str, last, i) + '\\u' + numToString(c, 16);
      last = i + 1;
    }
  }
  if (last !== n) result += strSlice(str, last);
  return q + result + q;
}

function escapeKey(str) {
  let result = '';
  let last = 0;
  for (let i = 0; i < str.length; i++) {
    const c = charCodeAt(str, i);
    if (c === 39 || c === 92 || c < 32 || (c > 126 && c < 160)) {
      result += strSlice(str, last, i) + meta[c];
      last = i + 1;
    }
  }
  return last === 0 ? str : result + strSlice(str, last);
}

function isIdentifier(key) {
  const n = key.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt(key, i);
    const alpha = (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
    if (!(alpha || (i > 0 && c >= 48 && c <= 57))) return false;
  }
  return true;
}

function isIndex(key) {
  const n = key.length;
  if (n === 0 || n > 10) return false;
  if (n > 1 && charCodeAt(key, 0) === 48) return false;
  for (let i = 0; i < n; i++) {
    const c = charCodeAt(key, i);
    if (c < 48 || c > 57) return false;
  }
  return +key < 4294967295;
}

const remainingText = (n) => '... ' + n + ' more item' + (n > 1 ? 's' : '');

function formatNumber(ctx, n) {
  return stylize(ctx, objIs(n, -0) ? '-0' : '' + n, 'number');
}

function formatPrimitive(ctx, value) {
  const t = typeof value;
  if (t === 'string') {
    let trailer = '';
    if (value.length > ctx.maxStringLength) {
      const remaining = value.length - ctx.maxStringLength;
      value = strSlice(value, 0, ctx.maxStringLength);
      trailer = '... ' + remaining + ' more character' + (remaining > 1 ? 's' : '');
    }
    if (value.length > 16 && value.length > ctx.breakLength - ctx.indentationLvl - 4) {
      const parts = [];
      let start = 0;
      for (let i = 0; i < value.length; i++) {
        if (charCodeAt(value, i) === 10) {
          push(parts, stylize(ctx, strEscape(strSlice(value, start, i + 1)), 'string'));
          start = i + 1;
        }
      }
      if (start < value.length || parts.length === 0)
        push(parts, stylize(ctx, strEscape(strSlice(value, start)), 'string'));
      return join(parts, ' +\n' + strRepeat(' ', ctx.indentationLvl + 2)) + trailer;
    }
    return stylize(ctx, strEscape(value), 'string') + trailer;
  }
  if (t === 'number') return formatNumber(ctx, value);
  if (t === 'bigint') return stylize(ctx, value + 'n', 'bigint');
  if (t === 'boolean') return stylize(ctx, '' + value, 'boolean');
  if (t === 'undefined') return stylize(ctx, 'undefined', 'undefined');
  return stylize(ctx, symToString(value), 'symbol');
}

function protoOf(obj) {
  try { return getProto(obj); } catch (e) { return null; }
}

function inChain(obj, proto) {
  if (proto === null || (typeof proto !== 'object' && typeof proto !== 'function')) return false;
  let p = protoOf(obj);
  for (let i = 0; p !== null && i < 10000; i++) {
    if (p === proto) return true;
    p = protoOf(p);
  }
  return false;
}

function safeGet(obj, key) {
  try { return obj[key]; } catch (e) { return undefined; }
}

function getConstructorName(obj, ctx, recurseTimes) {
  let firstProto;
  const tmp = obj;
  for (let i = 0; obj !== null && obj !== undefined && i < 10000; i++) {
    let desc;
    try { desc = getDesc(obj, 'constructor'); } catch (e) { desc = undefined; }
    if (desc !== undefined && typeof desc.value === 'function') {
      const name = safeGet(desc.value, 'name');
      if (typeof name === 'string' && name !== '') {
        const pd = getDesc(desc.value, 'prototype');
        if (pd !== undefined && inChain(tmp, pd.value)) return name;
      }
    }
    obj = protoOf(obj);
    if (firstProto === undefined) firstProto = obj;
  }
  if (firstProto === null) return null;
  if (recurseTimes > ctx.depth) return 'Object <Complex prototype>';
  const protoName = getConstructorName(firstProto, ctx, recurseTimes + 1);
  if (protoName === null) return 'Object <[Object: null prototype] {}>';
  return 'Object <' + protoName + '>';
}

function getPrefix(constructor, tag, fallback, size) {
  size = size || '';
  if (constructor === null) {
    if (tag !== '' && fallback !== tag) return '[' + fallback + size + ': null prototype] [' + tag + '] ';
    return '[' + fallback + size + ': null prototype] ';
  }
  if (tag !== '' && constructor !== tag) return constructor + size + ' [' + tag + '] ';
  return constructor + size + ' ';
}

function getKeys(value, showHidden) {
  let keys, symbols;
  try {
    keys = showHidden ? getNames(value) : objKeys(value);
    symbols = getSymbols(value);
  } catch (e) {
    return [];
  }
  for (let i = 0; i < symbols.length; i++)
    if (showHidden || isEnumerable(value, symbols[i])) push(keys, symbols[i]);
  return keys;
}

function nonIndexKeys(value, showHidden) {
  const all = getKeys(value, showHidden);
  const out = [];
  for (let i = 0; i < all.length; i++)
    if (typeof all[i] !== 'string' || !isIndex(all[i])) push(out, all[i]);
  return out;
}

function formatValue(ctx, value, recurseTimes, typedArray) {
  if (typeof value !== 'object' && typeof value !== 'function') return formatPrimitive(ctx, value);
  if (value === null) return stylize(ctx, 'null', 'null');
  let depthGuard = 0;
  while (kindOf(value) === 'Proxy' && depthGuard++ < 1000) {
    value = proxyTarget(value);
    if (value === null) return stylize(ctx, '<Revoked Proxy>', 'special');
  }
  if (arrIncludes(ctx.seen, value)) {
    let index = 1;
    if (ctx.circular === undefined) {
      ctx.circular = new MapCtor();
      mapSet(ctx.circular, value, index);
    } else {
      index = mapGet(ctx.circular, value);
      if (index === undefined) {
        index = mapSize(ctx.circular) + 1;
        mapSet(ctx.circular, value, index);
      }
    }
    return stylize(ctx, '[Circular *' + index + ']', 'special');
  }
  return formatRaw(ctx, value, recurseTimes, typedArray);
}

function getTag(value, showHidden) {
  let tag;
  try { tag = value[symToStringTag]; } catch (e) { return ''; }
  if (typeof tag !== 'string' ||
      (tag !== '' && (showHidden ? hasOwn : isEnumerable)(value, symToStringTag))) return '';
  return tag;
}

function formatRaw(ctx, value, recurseTimes, typedArray) {
  let keys;
  const constructor = getConstructorName(value, ctx, recurseTimes);
  const hidden = ctx.showHidden;
  let tag = getTag(value, hidden);
  let base = '';
  let formatter = null;
  let braces;
  let noIterator = true;
  let extrasType = 0;
  const kind = kindOf(value);
  const typedName = typedIds[classId(value)];
  let iterable = false;
  try { iterable = symIterator in value; } catch (e) { iterable = false; }
  if (iterable || constructor === null) {
    noIterator = false;
    if (isArray(value)) {
      const prefix = (constructor !== 'Array' || tag !== '')
        ? getPrefix(constructor, tag, 'Array', '(' + value.length + ')') : '';
      keys = nonIndexKeys(value, hidden);
      braces = [prefix + '[', ']'];
      if (value.length === 0 && keys.length === 0) return braces[0] + ']';
      extrasType = 2;
      formatter = formatArray;
    } else if (kind === 'Set') {
      const size = setSize(value);
      const prefix = getPrefix(constructor, tag, 'Set', '(' + size + ')');
      keys = getKeys(value, hidden);
      formatter = formatSet;
      if (size === 0 && keys.length === 0) return prefix + '{}';
      braces = [prefix + '{', '}'];
    } else if (kind === 'Map') {
      const size = mapSize(value);
      const prefix = getPrefix(constructor, tag, 'Map', '(' + size + ')');
      keys = getKeys(value, hidden);
      formatter = formatMap;
      if (size === 0 && keys.length === 0) return prefix + '{}';
      braces = [prefix + '{', '}'];
    } else if (typedName !== undefined) {
      keys = nonIndexKeys(value, hidden);
      const size = taLength(value);
      const prefix = getPrefix(constructor, tag, constructor === null ? typedName : '', '(' + size + ')');
      braces = [prefix + '[', ']'];
      if (size === 0 && keys.length === 0) return braces[0] + ']';
      formatter = formatTypedArray;
      extrasType = 2;
    } else if (kind === 'MapIterator' || kind === 'SetIterator') {
      keys = getKeys(value, hidden);
      const type = kind === 'MapIterator' ? 'Map' : 'Set';
      let t = tag;
      if (t !== type + ' Iterator') {
        if (t !== '') t += '] [';
        t += type + ' Iterator';
      }
      braces = ['[' + t + '] {', '}'];
      formatter = formatIteratorUnknown;
    } else {
      noIterator = true;
    }
  }
  if (noIterator) {
    keys = getKeys(value, hidden);
    braces = ['{', '}'];
    if (typeof value === 'function') {
      base = getFunctionBase(value, constructor, tag);
      if (keys.length === 0) return stylize(ctx, base, 'special');
    } else if (constructor === 'Object') {
      if (kind === 'Arguments') braces[0] = '[Arguments] {';
      else if (tag !== '') braces[0] = getPrefix(constructor, tag, 'Object') + '{';
      if (keys.length === 0) return braces[0] + '}';
    } else if (kind === 'RegExp') {
      base = reToString(constructor !== null ? value : new RegExp(value));
      const prefix = getPrefix(constructor, tag, 'RegExp');
      if (prefix !== 'RegExp ') base = prefix + base;
      if (keys.length === 0 || recurseTimes > ctx.depth) return stylize(ctx, base, 'regexp');
    } else if (kind === 'Date') {
      base = isNaNF(dateGetTime(value)) ? dateToString(value) : dateISO(value);
      const prefix = getPrefix(constructor, tag, 'Date');
      if (prefix !== 'Date ') base = prefix + base;
      if (keys.length === 0) return stylize(ctx, base, 'date');
    } else if (kind === 'Error') {
      base = formatError(value, constructor, tag, ctx, keys);
      if (keys.length === 0) return base;
    } else if (kind === 'ArrayBuffer' || kind === 'SharedArrayBuffer') {
      const prefix = getPrefix(constructor, tag, kind);
      if (typedArray === undefined) {
        formatter = formatArrayBuffer;
      } else if (keys.length === 0) {
        return prefix + '{ byteLength: ' + formatNumber(ctx, safeGet(value, 'byteLength')) + ' }';
      }
      braces[0] = prefix + '{';
      arrUnshift(keys, 'byteLength');
    } else if (kind === 'DataView') {
      braces[0] = getPrefix(constructor, tag, 'DataView') + '{';
      arrUnshift(keys, 'byteLength', 'byteOffset', 'buffer');
    } else if (kind === 'Promise') {
      braces[0] = getPrefix(constructor, tag, 'Promise') + '{';
      formatter = formatPromise;
    } else if (kind === 'WeakSet' || kind === 'WeakMap') {
      braces[0] = getPrefix(constructor, tag, kind) + '{';
      formatter = formatWeak;
    } else if (constructor === null && tag === 'Module') {
      braces[0] = '[Module: null prototype] {';
    } else if (kind === 'Number' || kind === 'String' || kind === 'Boolean' ||
               kind === 'Symbol' || kind === 'BigInt') {
      base = getBoxedBase(value, ctx, keys, constructor, tag, kind);
      if (keys.length === 0) return base;
    } else {
      if (keys.length === 0) return getCtxStyle(constructor, tag) + '{}';
      braces[0] = getCtxStyle(constructor, tag) + '{';
    }
  }
  if (recurseTimes > ctx.depth) {
    let name = strSlice(getCtxStyle(constructor, tag), 0, -1);
    if (constructor !== null) name = '[' + name + ']';
    return stylize(ctx, name, 'special');
  }
  recurseTimes += 1;
  push(ctx.seen, value);
  ctx.currentDepth = recurseTimes;
  let output;
  if (formatter !== null) output = formatter(ctx, value, recurseTimes);
  else output = [];
  for (let i = 0; i < keys.length; i++) {
    if (ctx.total > ctx.maxOutput) {
      push(output, '...');
      break;
    }
    push(output, formatProperty(ctx, value, recurseTimes, keys[i], extrasType));
  }
  if (ctx.circular !== undefined) {
    const index = mapGet(ctx.circular, value);
    if (index !== undefined) {
      const reference = stylize(ctx, '<ref *' + index + '>', 'special');
      base = base === '' ? reference : reference + ' ' + base;
    }
  }
  arrPop(ctx.seen);
  const res = reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value);
  ctx.total += res.length;
  if (ctx.total > ctx.maxOutput) ctx.depth = -1;
  return res;
}

function getCtxStyle(constructor, tag) {
  let fallback = '';
  if (constructor === null) {
    fallback = 'Object';
  }
  return getPrefix(constructor, tag, fallback);
}

function getBoxedBase(value, ctx, keys, constructor, tag, type) {
  let prim;
  if (type === 'Number') prim = numValueOf(value);
  else if (type === 'String') {
    prim = strValueOf(value);
    const rest = [];
    for (let i = 0; i < keys.length; i++)
      if (typeof keys[i] !== 'string' || !isIndex(keys[i])) push(rest, keys[i]);
    keys.length = 0;
    for (let i = 0; i < rest.length; i++) push(keys, rest[i]);
  } else if (type === 'Boolean') prim = boolValueOf(value);
  else if (type === 'BigInt') prim = bigValueOf(value);
  else prim = symValueOf(value);
  let base = '[' + type;
  if (type !== constructor) {
    if (constructor === null) base += ' (null prototype)';
    else base += ' (' + constructor + ')';
  }
  const plain = { colors: false, maxStringLength: ctx.maxStringLength, breakLength: Infinity,
    indentationLvl: 0 };
  base += ': ' + formatPrimitive(plain, prim) + ']';
  if (tag !== '' && tag !== constructor) base += ' [' + tag + ']';
  if (keys.length !== 0 || !ctx.colors) return base;
  return stylize(ctx, base, strToLower(type));
}

function getFunctionBase(value, constructor, tag) {
  let source = '';
  try { source = fnToString(value); } catch (e) { source = ''; }
  if (strStarts(source, 'class') && strEnds(source, '}')) {
    const slice = strSlice(source, 5, -1);
    const brace = strIndexOf(slice, '{');
    if (brace !== -1 && !strIncludes(strSlice(slice, 0, brace), '(')) {
      return getClassBase(value, constructor, tag);
    }
  }
  let type = 'Function';
  const kind = kindOf(value);
  if (kind === 'GeneratorFunction') type = 'GeneratorFunction';
  else if (kind === 'AsyncFunction') type = 'AsyncFunction';
  else if (kind === 'AsyncGeneratorFunction') type = 'AsyncGeneratorFunction';
  let base = '[' + type;
  if (constructor === null) base += ' (null prototype)';
  const name = safeGet(value, 'name');
  if (name === '' || typeof name !== 'string') base += ' (anonymous)';
  else base += ': ' + name;
  base += ']';
  if (constructor !== type && constructor !== null) base += ' ' + constructor;
  if (tag !== '' && constructor !== tag) base += ' [' + tag + ']';
  return base;
}

function getClassBase(value, constructor, tag) {
  const name = (hasOwn(value, 'name') && safeGet(value, 'name')) || '(anonymous)';
  let base = 'class ' + name;
  if (constructor !== 'Function' && constructor !== null) base += ' [' + constructor + ']';
  if (tag !== '' && constructor !== tag) base += ' [' + tag + ']';
  if (constructor !== null) {
    const sup = protoOf(value);
    const superName = sup !== null ? safeGet(sup, 'name') : undefined;
    if (superName) base += ' extends ' + superName;
  } else {
    base += ' extends [null prototype]';
  }
  return '[' + base + ']';
}

function improveStack(stack, constructor, name, tag) {
  let len = name.length;
  if (constructor === null ||
      (strEnds(name, 'Error') && strStarts(stack, name) &&
       (stack.length === len || stack[len] === ':' || stack[len] === '\n'))) {
    let fallback = 'Error';
    if (constructor === null) {
      const start = reExec(/^([A-Z][a-z_ A-Z0-9[\]()-]+)(?::|\n {4}at)/, stack) ||
        reExec(/^([a-z_A-Z0-9-]*Error)$/, stack);
      fallback = (start && start[1]) || '';
      len = fallback.length;
      fallback = fallback || 'Error';
    }
    const prefix = strSlice(getPrefix(constructor, tag, fallback), 0, -1);
    if (name !== prefix) {
      if (strIncludes(prefix, name)) {
        stack = len === 0 ? prefix + ': ' + stack : prefix + strSlice(stack, len);
      } else {
        stack = prefix + ' [' + name + ']' + strSlice(stack, len);
      }
    }
  }
  return stack;
}

function errorStack(err) {
  // QuickJS's stack holds the frames only; node's starts with "Name: message"
  let head;
  try { head = errToString(err); } catch (e) { head = 'Error'; }
  let frames = safeGet(err, 'stack');
  if (typeof frames !== 'string' || frames === '') return head;
  if (strEnds(frames, '\n')) frames = strSlice(frames, 0, -1);
  if (!strStarts(frames, '    at ')) return frames;
  return head + '\n' + frames;
}

function formatError(err, constructor, tag, ctx, keys) {
  const rawName = safeGet(err, 'name');
  const name = rawName != null ? StringCtor(rawName) : 'Error';
  let stack = errorStack(err);
  const message = safeGet(err, 'message');
  const dup = ['name', 'message', 'stack'];
  for (let j = 0; j < dup.length; j++) {
    const i = arrIndexOf(keys, dup[j]);
    if (i !== -1) {
      const v = safeGet(err, dup[j]);
      if (typeof v === 'string' && strIncludes(stack, v)) arrSplice(keys, i, 1);
    }
  }
  let hasCause = false;
  try { hasCause = 'cause' in err; } catch (e) { hasCause = false; }
  if (hasCause && !arrIncludes(keys, 'cause')) push(keys, 'cause');
  const errors = safeGet(err, 'errors');
  if (isArray(errors) && !arrIncludes(keys, 'errors')) push(keys, 'errors');
  stack = improveStack(stack, constructor, name, tag);
  let pos = (typeof message === 'string' && message && strIndexOf(stack, message)) || -1;
  if (pos !== -1) pos += message.length;
  const stackStart = strIndexOf(stack, '\n    at', pos);
  if (stackStart === -1) stack = '[' + stack + ']';
  if (ctx.indentationLvl !== 0) {
    const lines = strSplit(stack, '\n');
    stack = join(lines, '\n' + strRepeat(' ', ctx.indentationLvl));
  }
  return stack;
}

function formatArrayBuffer(ctx, value) {
  let bytes;
  try { bytes = new U8(value); } catch (e) { return [stylize(ctx, '(detached)', 'special')]; }
  const n = MathMin(ctx.maxArrayLength, bytes.length);
  const parts = [];
  for (let i = 0; i < n; i++) push(parts, padStart(numToString(bytes[i], 16), 2, '0'));
  let str = join(parts, ' ');
  const remaining = bytes.length - ctx.maxArrayLength;
  if (remaining > 0) str += ' ... ' + remaining + ' more byte' + (remaining > 1 ? 's' : '');
  return [stylize(ctx, '[Uint8Contents]', 'special') + ': <' + str + '>'];
}

function formatArray(ctx, value, recurseTimes) {
  const valLen = value.length;
  const len = MathMin(MathMax(0, ctx.maxArrayLength), valLen);
  const remaining = valLen - len;
  const output = [];
  for (let i = 0; i < len; i++) {
    if (!hasOwn(value, i)) return formatSpecialArray(ctx, value, recurseTimes, len, output, i);
    push(output, formatProperty(ctx, value, recurseTimes, i, 1));
    if (ctx.total > ctx.maxOutput) break;
  }
  if (remaining > 0) push(output, remainingText(remaining));
  return output;
}

function formatSpecialArray(ctx, value, recurseTimes, maxLength, output, i) {
  const keys = objKeys(value);
  let index = i;
  for (; i < keys.length && output.length < maxLength; i++) {
    const key = keys[i];
    const tmp = +key;
    if (tmp > 4294967294) break;
    if ('' + index !== key) {
      if (!isIndex(key)) break;
      const emptyItems = tmp - index;
      push(output, stylize(ctx, '<' + emptyItems + ' empty item' + (emptyItems > 1 ? 's' : '') + '>',
        'undefined'));
      index = tmp;
      if (output.length === maxLength) break;
    }
    push(output, formatProperty(ctx, value, recurseTimes, key, 1));
    index++;
  }
  const remaining = value.length - index;
  if (output.length !== maxLength) {
    if (remaining > 0) {
      push(output, stylize(ctx, '<' + remaining + ' empty item' + (remaining > 1 ? 's' : '') + '>',
        'undefined'));
    }
  } else if (remaining > 0) {
    push(output, remainingText(remaining));
  }
  return output;
}

function formatTypedArray(ctx, value) {
  const length = taLength(value);
  const maxLength = MathMin(MathMax(0, ctx.maxArrayLength), length);
  const remaining = length - maxLength;
  const output = [];
  for (let i = 0; i < maxLength; i++) {
    const v = value[i];
    push(output, typeof v === 'bigint' ? stylize(ctx, v + 'n', 'bigint') : formatNumber(ctx, v));
  }
  if (remaining > 0) push(output, remainingText(remaining));
  return output;
}

function formatSet(ctx, value, recurseTimes) {
  const length = setSize(value);
  const maxLength = MathMin(MathMax(0, ctx.maxArrayLength), length);
  const output = [];
  ctx.indentationLvl += 2;
  const it = setValues(value);
  for (let i = 0; i < maxLength; i++) {
    const step = setIterNext(it);
    if (step.done) break;
    push(output, formatValue(ctx, step.value, recurseTimes));
    if (ctx.total > ctx.maxOutput) break;
  }
  if (length - maxLength > 0) push(output, remainingText(length - maxLength));
  ctx.indentationLvl -= 2;
  return output;
}

function formatMap(ctx, value, recurseTimes) {
  const length = mapSize(value);
  const maxLength = MathMin(MathMax(0, ctx.maxArrayLength), length);
  const output = [];
  ctx.indentationLvl += 2;
  const it = mapEntries(value);
  for (let i = 0; i < maxLength; i++) {
    const step = mapIterNext(it);
    if (step.done) break;
    const entry = step.value;
    push(output, formatValue(ctx, entry[0], recurseTimes) + ' => ' +
      formatValue(ctx, entry[1], recurseTimes));
    if (ctx.total > ctx.maxOutput) break;
  }
  if (length - maxLength > 0) push(output, remainingText(length - maxLength));
  ctx.indentationLvl -= 2;
  return output;
}

function formatWeak(ctx) {
  return [stylize(ctx, '<items unknown>', 'special')];
}

function formatIteratorUnknown(ctx) {
  return [];
}

function formatPromise(ctx, value, recurseTimes) {
  const info = promiseInfo(value);
  if (info[0] === 0) return [stylize(ctx, '<pending>', 'special')];
  ctx.indentationLvl += 2;
  const str = formatValue(ctx, info[1], recurseTimes);
  ctx.indentationLvl -= 2;
  return [info[0] === 2 ? stylize(ctx, '<rejected>', 'special') + ' ' + str : str];
}

function formatProperty(ctx, value, recurseTimes, key, type) {
  let name, str;
  let desc;
  try { desc = getDesc(value, key); } catch (e) { desc = undefined; }
  if (desc === undefined) desc = { value: safeGet(value, key), enumerable: true };
  if (desc.value !== undefined) {
    ctx.indentationLvl += 2;
    str = formatValue(ctx, desc.value, recurseTimes);
    ctx.indentationLvl -= 2;
  } else if (desc.get !== undefined) {
    str = stylize(ctx, desc.set !== undefined ? '[Getter/Setter]' : '[Getter]', 'special');
  } else if (desc.set !== undefined) {
    str = stylize(ctx, '[Setter]', 'special');
  } else {
    str = stylize(ctx, 'undefined', 'undefined');
  }
  if (type === 1) return str;
  if (typeof key === 'symbol') {
    name = '[' + stylize(ctx, escapeKey(symToString(key)), 'symbol') + ']';
  } else if (key === '__proto__') {
    name = "['__proto__']";
  } else if (desc.enumerable === false) {
    name = '[' + escapeKey(key) + ']';
  } else if (isIdentifier(key)) {
    name = stylize(ctx, key, 'name');
  } else {
    name = stylize(ctx, strEscape(key), 'string');
  }
  return name + ': ' + str;
}

function visibleLength(ctx, s) {
  if (!ctx.colors) return s.length;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    if (charCodeAt(s, i) === 27 && s[i + 1] === '[') {
      let j = i + 2;
      while (j < s.length && charCodeAt(s, j) !== 109) j++;
      i = j;
    } else {
      n++;
    }
  }
  return n;
}

function groupArrayElements(ctx, output, value) {
  let totalLength = 0;
  let maxLength = 0;
  let outputLength = output.length;
  if (ctx.maxArrayLength < output.length) outputLength--;
  const separatorSpace = 2;
  const dataLen = [];
  for (let i = 0; i < outputLength; i++) {
    const len = visibleLength(ctx, output[i]);
    dataLen[i] = len;
    totalLength += len + separatorSpace;
    if (maxLength < len) maxLength = len;
  }
  const actualMax = maxLength + separatorSpace;
  if (actualMax * 3 + ctx.indentationLvl < ctx.breakLength &&
      (totalLength / actualMax > 5 || maxLength <= 6)) {
    const averageBias = MathSqrt(actualMax - totalLength / output.length);
    const biasedMax = MathMax(actualMax - 3 - averageBias, 1);
    const columns = MathMin(
      MathRound(MathSqrt(2.5 * biasedMax * outputLength) / biasedMax),
      MathFloor((ctx.breakLength - ctx.indentationLvl) / actualMax),
      3 * 4,
      15);
    if (columns <= 1) return output;
    const tmp = [];
    const maxLineLength = [];
    for (let i = 0; i < columns; i++) {
      let lineMaxLength = 0;
      for (let j = i; j < output.length; j += columns)
        if (dataLen[j] > lineMaxLength) lineMaxLength = dataLen[j];
      maxLineLength[i] = lineMaxLength + separatorSpace;
    }
    let order = padStart;
    if (value !== undefined) {
      for (let i = 0; i < output.length; i++) {
        const v = value[i];
        if (typeof v !== 'number' && typeof v !== 'bigint') {
          order = padEnd;
          break;
        }
      }
    }
    for (let i = 0; i < outputLength; i += columns) {
      const max = MathMin(i + columns, outputLength);
      let str = '';
      let j = i;
      for (; j < max - 1; j++) {
        const padding = maxLineLength[j - i] + output[j].length - dataLen[j];
        str += order(output[j] + ', ', padding, ' ');
      }
      if (order === padStart) {
        const padding = maxLineLength[j - i] + output[j].length - dataLen[j] - separatorSpace;
        str += padStart(output[j], padding, ' ');
      } else {
        str += output[j];
      }
      push(tmp, str);
    }
    if (ctx.maxArrayLength < output.length) push(tmp, output[outputLength]);
    output = tmp;
  }
  return output;
}

function isBelowBreakLength(ctx, output, start, base) {
  let totalLength = output.length + start;
  if (totalLength + output.length > ctx.breakLength) return false;
  for (let i = 0; i < output.length; i++) {
    totalLength += visibleLength(ctx, output[i]);
    if (totalLength > ctx.breakLength) return false;
  }
  return base === '' || !strIncludes(base, '\n');
}

function reduceToSingleString(ctx, output, base, braces, extrasType, recurseTimes, value) {
  const entries = output.length;
  if (extrasType === 2 && entries > 6) output = groupArrayElements(ctx, output, value);
  if (ctx.currentDepth - recurseTimes < 3 && entries === output.length) {
    const start = output.length + ctx.indentationLvl + braces[0].length + base.length + 10;
    if (isBelowBreakLength(ctx, output, start, base)) {
      const joined = join(output, ', ');
      if (!strIncludes(joined, '\n')) {
        return (base ? base + ' ' : '') + braces[0] + ' ' + joined + ' ' + braces[1];
      }
    }
  }
  const indentation = '\n' + strRepeat(' ', ctx.indentationLvl);
  return (base ? base + ' ' : '') + braces[0] + indentation + '  ' +
    join(output, ',' + indentation + '  ') + indentation + braces[1];
}

function newCtx(depth, colors, maxArrayLength, maxStringLength, breakLength, maxOutput) {
  return { depth, colors, maxArrayLength, maxStringLength, breakLength, maxOutput, showHidden: false,
    indentationLvl: 0, seen: [], circular: undefined, currentDepth: 0, total: 0 };
}

function inspect(value, ctx) {
  return formatValue(ctx, value, 0);
}

function hasBuiltInToString(value) {
  let p = value;
  for (let i = 0; p !== null && i < 10000; i++) {
    let d;
    try { d = getDesc(p, 'toString'); } catch (e) { return true; }
    if (d !== undefined) return typeof d.value === 'function' && setHas(builtinToString, d.value);
    p = protoOf(p);
  }
  return true;
}

function format(args, opts) {
  const first = args[0];
  let a = 0;
  let str = '';
  let sep = '';
  const sub = (depth, colors) => newCtx(depth, colors, opts[2], opts[3], opts[4], opts[5]);
  if (typeof first === 'string') {
    if (args.length === 1) return first;
    let tempStr;
    let lastPos = 0;
    for (let i = 0; i < first.length - 1; i++) {
      if (charCodeAt(first, i) === 37) {
        const next = charCodeAt(first, ++i);
        if (a + 1 !== args.length) {
          switch (next) {
            case 115: {
              const arg = args[++a];
              if (typeof arg === 'number') tempStr = formatNumber(sub(0, false), arg);
              else if (typeof arg === 'bigint') tempStr = arg + 'n';
              else if (typeof arg !== 'object' || arg === null || !hasBuiltInToString(arg))
                tempStr = StringCtor(arg);
              else tempStr = inspect(arg, sub(0, false));
              break;
            }
            case 106: {
              try { tempStr = jsonStringify(args[++a]); } catch (e) {
                tempStr = (e && e.name === 'TypeError' && strIncludes(StringCtor(e.message), 'ircular'))
                  ? '[Circular]' : '[' + StringCtor(e) + ']';
              }
              break;
            }
            case 100: {
              const n = args[++a];
              if (typeof n === 'bigint') tempStr = n + 'n';
              else if (typeof n === 'symbol') tempStr = 'NaN';
              else tempStr = formatNumber(sub(0, false), NumberCtor(n));
              break;
            }
            case 79: tempStr = inspect(args[++a], sub(opts[0], opts[1])); break;
            case 111: {
              const c = sub(4, opts[1]);
              c.showHidden = true;
              tempStr = inspect(args[++a], c);
              break;
            }
            case 105: {
              const n = args[++a];
              if (typeof n === 'bigint') tempStr = n + 'n';
              else if (typeof n === 'symbol') tempStr = 'NaN';
              else tempStr = formatNumber(sub(0, false), parseIntF(n));
              break;
            }
            case 102: {
              const n = args[++a];
              tempStr = typeof n === 'symbol' ? 'NaN' : formatNumber(sub(0, false), parseFloatF(n));
              break;
            }
            case 99: a += 1; tempStr = ''; break;
            case 37: str += strSlice(first, lastPos, i); lastPos = i + 1; continue;
            default: continue;
          }
          if (lastPos !== i - 1) str += strSlice(first, lastPos, i - 1);
          str += tempStr;
          lastPos = i + 1;
        } else if (next === 37) {
          str += strSlice(first, lastPos, i);
          lastPos = i + 1;
        }
      }
    }
    if (lastPos !== 0) {
      a++;
      sep = ' ';
      if (lastPos < first.length) str += strSlice(first, lastPos);
    }
  }
  while (a < args.length) {
    const value = args[a];
    str += sep;
    str += typeof value !== 'string' ? inspect(value, sub(opts[0], opts[1])) : value;
    sep = ' ';
    a++;
    if (str.length > opts[5]) break;
  }
  return str;
}

function truncate(s, max) {
  if (s.length <= max) return s;
  return strSlice(s, 0, max) + '... (' + (s.length - max) + ' more characters)';
}

function run(mode, depth, colors, maxArrayLength, maxStringLength, breakLength, maxOutput) {
  if (depth === null || depth === undefined) depth = Infinity;
  const opts = [depth, !!colors, maxArrayLength, maxStringLength, breakLength, maxOutput];
  const values = [];
  for (let i = 7; i < arguments.length; i++) push(values, arguments[i]);
  if (mode === 1) return truncate(format(values, opts), maxOutput);
  const ctx = newCtx(depth, !!colors, maxArrayLength, maxStringLength, breakLength, maxOutput);
  let s = inspect(values[0], ctx);
  if (mode === 2) {
    const nl = strIndexOf(s, '\n');
    if (nl !== -1) s = strSlice(s, 0, nl) + ' ...';
    if (s.length > maxOutput) s = strSlice(s, 0, maxOutput) + '...';
    return s;
  }
  return truncate(s, maxOutput);
}
return freeze(run);
})
"""
