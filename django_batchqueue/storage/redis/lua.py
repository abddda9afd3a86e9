"""The Lua scripts that decide who acts on Redis storage.

Each transition is one script: it checks the state it moves from and changes it in the same
atomic step, so two workers racing for a claim, a finish or a settle never both win, and no
decision is a read in Python followed by a write. Every script gets the key prefix, the time as
ISO text and as epoch seconds (``NOW``, ``NOWS``) first, then its own arguments; ``KEYS[1]`` is
a key of the namespace's hash slot, so a cluster routes the script to the node holding it.

Indexes kept by :lua:`set_status` (one place, so no transition forgets one):

``queued`` / ``running``
    sorted sets of row ids by ``enqueued_at`` / ``started_at`` (reconcile's stale rows);
``a:<batch>``
    the batch's rows handed to RQ or running (``has_active``, stalled batches);
``p:<batch>``
    the batch's pending members by position (the release window, chain advance).
"""

from __future__ import annotations

#: (Counters are lowered with ``0 - n``, never ``-n``: Lua's ``-0`` reaches Redis as "-0",
#: which HINCRBY refuses as not an integer.)
HEADER = r"""
local P, NOW, NOWS = ARGV[1], ARGV[2], tonumber(ARGV[3])
local NESTED_UNDO = 'django_batchqueue:nested-batch'
local OPEN = {pending = true, running = true}
local FINISHED = {completed = true, failed = true, cancelled = true}
local function bkey(id) return P .. 'b:' .. id end
local function jkey(id) return P .. 'j:' .. id end
local function num(key, field) return tonumber(redis.call('HGET', key, field) or '0') or 0 end
local function str(key, field) return redis.call('HGET', key, field) or '' end

local function touch(batch)
  redis.call('HSET', bkey(batch), 'updated_at', NOW)
  redis.call('ZADD', P .. 'touched', NOWS, batch)
end

-- a row's status, and every index that follows from it
local function set_status(id, new)
  local k = jkey(id)
  local f = redis.call('HMGET', k, 'batch_id', 'kind', 'job_path', 'position')
  local batch, kind, path, position = f[1], f[2], f[3], f[4]
  redis.call('HSET', k, 'status', new)
  if new == 'queued' then
    redis.call('ZADD', P .. 'queued', NOWS, id)
  else
    redis.call('ZREM', P .. 'queued', id)
  end
  if new == 'running' and kind ~= 'batch' and path ~= NESTED_UNDO then
    redis.call('ZADD', P .. 'running', NOWS, id)
  else
    redis.call('ZREM', P .. 'running', id)
  end
  if new == 'queued' or new == 'running' then
    redis.call('SADD', P .. 'a:' .. batch, id)
  else
    redis.call('SREM', P .. 'a:' .. batch, id)
  end
  if new == 'pending' and (kind == 'job' or kind == 'batch') then
    redis.call('ZADD', P .. 'p:' .. batch, tonumber(position), id)
  else
    redis.call('ZREM', P .. 'p:' .. batch, id)
  end
end

local function counts(batch)
  return redis.call('HMGET', bkey(batch), 'total_jobs', 'completed_jobs', 'failed_jobs',
    'cancelled_jobs', 'status', 'waiting_jobs')
end

local function done(bk)
  return num(bk, 'completed_jobs') + num(bk, 'failed_jobs') + num(bk, 'cancelled_jobs')
end

-- every key of a tree, for its time to live
local function tree_keys(root)
  local out = {P .. 'tree:' .. root}
  for _, b in ipairs(redis.call('SMEMBERS', P .. 'tree:' .. root)) do
    for _, k in ipairs({'b:', 'm:', 'r:', 'p:', 'a:', 'ch:'}) do out[#out + 1] = P .. k .. b end
    for _, set in ipairs({'m:', 'r:'}) do
      local ids = set == 'm:' and redis.call('ZRANGE', P .. 'm:' .. b, 0, -1)
        or redis.call('SMEMBERS', P .. 'r:' .. b)
      for _, id in ipairs(ids) do out[#out + 1] = jkey(id) end
    end
  end
  return out
end
"""

#: Store rows: ARGV[4] = batch id, ARGV[5] = "m" (members) or "r" (runs), then per row the
#: number of hash values and the field/value pairs. Callback runs get their ``sequence`` here.
#: Returns the sequences given (0 for rows that are not callbacks).
PUT_ROWS = r"""
local batch, set = ARGV[4], ARGV[5]
local i, out = 6, {}
while i <= #ARGV do
  local n = tonumber(ARGV[i])
  local fields = {}
  for j = 1, n do fields[j] = ARGV[i + j] end
  i = i + n + 1
  local row = {}
  for j = 1, n, 2 do row[fields[j]] = fields[j + 1] end
  local k = jkey(row.id)
  redis.call('HSET', k, unpack(fields))
  local seq = 0
  if row.kind == 'callback' then
    seq = redis.call('HINCRBY', bkey(batch), 'x_sequence', 1) - 1
    redis.call('HSET', k, 'sequence', seq)
  end
  out[#out + 1] = seq
  if set == 'm' then
    redis.call('ZADD', P .. 'm:' .. batch, tonumber(row.position), row.id)
  else
    redis.call('SADD', P .. 'r:' .. batch, row.id)
  end
  set_status(row.id, row.status)
  if row.status == 'queued' and row.enqueued_at == nil then
    redis.call('HSET', k, 'enqueued_at', NOW)
  end
  -- a run added after its tree was given its time to live (on_finally) expires with the tree
  local ttl = redis.call('PTTL', bkey(batch))
  if ttl > 0 then
    redis.call('PEXPIRE', k, ttl)
    redis.call('PEXPIRE', P .. (set == 'm' and 'm:' or 'r:') .. batch, ttl)
  end
end
return out
"""

#: Store a batch: ARGV[4] = id, ARGV[5] = parent id or "", ARGV[6] = member row id or "",
#: ARGV[7] = root id, ARGV[8] = created_at score, then the hash's field/value pairs.
PUT_BATCH = r"""
local id, parent, member, root = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local fields = {}
for j = 9, #ARGV do fields[#fields + 1] = ARGV[j] end
redis.call('HSET', bkey(id), unpack(fields))
redis.call('ZADD', P .. 'batches', tonumber(ARGV[8]), id)
redis.call('ZADD', P .. 'touched', NOWS, id)
redis.call('SADD', P .. 'open', id)
redis.call('SADD', P .. 'tree:' .. root, id)
if parent ~= '' then
  local position = 0
  if member ~= '' then position = tonumber(redis.call('HGET', jkey(member), 'position') or '0') end
  redis.call('ZADD', P .. 'ch:' .. parent, position, id)
  if member ~= '' then redis.call('HSET', jkey(member), 'x_child', id) end
end
return 1
"""

#: queued -> running: ARGV[4] = row id, ARGV[5] = RQ job id or "" (any), ARGV[6] = worker.
#: Returns the row's and its batch's hashes, or false.
CLAIM = r"""
local id, rq, worker = ARGV[4], ARGV[5], ARGV[6]
local k = jkey(id)
if redis.call('HGET', k, 'status') ~= 'queued' then return false end
if rq ~= '' and str(k, 'rq_job_id') ~= rq then return false end
redis.call('HINCRBY', k, 'attempts', 1)
redis.call('HSET', k, 'started_at', NOW, 'worker_name', worker)
redis.call('HDEL', k, 'finished_at')
set_status(id, 'running')
return {redis.call('HGETALL', k), redis.call('HGETALL', bkey(str(k, 'batch_id')))}
"""

#: running -> completed/failed for one run: ARGV[4] = row id, ARGV[5] = its RQ job id,
#: ARGV[6] = status, ARGV[7] = result JSON, ARGV[8] = error, ARGV[9] = traceback,
#: ARGV[10] = "1" to count the row on its batch by its new status (then returns the batch's
#: counters), ARGV[11] = "1" when ARGV[12] is the context JSON to store as the batch's.
FINISH = r"""
local id, rq, status = ARGV[4], ARGV[5], ARGV[6]
local k = jkey(id)
if redis.call('HGET', k, 'status') ~= 'running' or str(k, 'rq_job_id') ~= rq then return false end
redis.call('HSET', k, 'finished_at', NOW, 'result', ARGV[7])
if status == 'failed' then redis.call('HSET', k, 'error', ARGV[8], 'traceback', ARGV[9]) end
set_status(id, status)
if ARGV[10] == '1' then
  local batch = str(k, 'batch_id')
  local bk = bkey(batch)
  redis.call('HINCRBY', bk, status .. '_jobs', 1)
  if ARGV[11] == '1' then redis.call('HSET', bk, 'context', ARGV[12]) end
  touch(batch)
  return counts(batch)
end
return 1
"""

#: running -> queued as another RQ job: ARGV[4] = row, ARGV[5] = old RQ id, ARGV[6] = new,
#: ARGV[7] = error, ARGV[8] = traceback.
REQUEUE = r"""
local id = ARGV[4]
local k = jkey(id)
if redis.call('HGET', k, 'status') ~= 'running' then return false end
if str(k, 'rq_job_id') ~= ARGV[5] then return false end
redis.call('HSET', k, 'rq_job_id', ARGV[6], 'error', ARGV[7], 'traceback', ARGV[8],
  'enqueued_at', NOW, 'finished_at', NOW)
set_status(id, 'queued')
return 1
"""

#: pending -> queued: ARGV[4] = row, ARGV[5] = RQ id, ARGV[6] = member of this batch or "",
#: ARGV[7] = "1" when ARGV[8] is the meta JSON to store.
QUEUE_PENDING = r"""
local id, batch = ARGV[4], ARGV[6]
local k = jkey(id)
if redis.call('HGET', k, 'status') ~= 'pending' then return false end
redis.call('HSET', k, 'rq_job_id', ARGV[5], 'enqueued_at', NOW)
if ARGV[7] == '1' then redis.call('HSET', k, 'meta', ARGV[8]) end
if batch ~= '' then redis.call('HINCRBY', bkey(batch), 'waiting_jobs', -1) end
set_status(id, 'queued')
return 1
"""

#: pending -> running for a row no RQ job runs: ARGV[4] = row, ARGV[5] = batch or "".
START_VIRTUAL = r"""
local id, batch = ARGV[4], ARGV[5]
local k = jkey(id)
if redis.call('HGET', k, 'status') ~= 'pending' then return false end
redis.call('HINCRBY', k, 'attempts', 1)
redis.call('HSET', k, 'started_at', NOW, 'enqueued_at', NOW)
if batch ~= '' then redis.call('HINCRBY', bkey(batch), 'waiting_jobs', -1) end
set_status(id, 'running')
return 1
"""

#: Release waiting members in position order up to ARGV[5] active: ARGV[4] = batch.
#: Returns {id, RQ id, timeout or "", kind} of each.
RELEASE = r"""
local batch, limit = ARGV[4], tonumber(ARGV[5])
local bk = bkey(batch)
if not OPEN[str(bk, 'status')] then return {} end
local waiting = num(bk, 'waiting_jobs')
local active = num(bk, 'total_jobs') - done(bk) - waiting
local n = math.min(waiting, limit - active)
if n <= 0 then return {} end
local out = {}
for _, id in ipairs(redis.call('ZRANGE', P .. 'p:' .. batch, 0, n - 1)) do
  local k = jkey(id)
  local kind = str(k, 'kind')
  local rq = ''
  if kind == 'job' then
    rq = string.gsub(id, '-', '')
    redis.call('HSET', k, 'rq_job_id', rq, 'enqueued_at', NOW)
    set_status(id, 'queued')
  else
    redis.call('HINCRBY', k, 'attempts', 1)
    redis.call('HSET', k, 'started_at', NOW, 'enqueued_at', NOW)
    set_status(id, 'running')
  end
  out[#out + 1] = {id, rq, str(k, 'timeout'), kind}
end
redis.call('HINCRBY', bk, 'waiting_jobs', 0 - #out)
return out
"""

#: Queued rows to new RQ jobs: ARGV[4..] = row, old RQ id, new RQ id, ... Returns moved rows.
REASSIGN = r"""
local moved = {}
for i = 4, #ARGV, 3 do
  local id = ARGV[i]
  local k = jkey(id)
  if redis.call('HGET', k, 'status') == 'queued' and str(k, 'rq_job_id') == ARGV[i + 1] then
    redis.call('HSET', k, 'rq_job_id', ARGV[i + 2], 'enqueued_at', NOW)
    set_status(id, 'queued')
    moved[#moved + 1] = id
  end
end
return moved
"""

#: pending/queued members -> cancelled, counted: ARGV[4] = batch. Returns how many.
CANCEL_UNSTARTED = r"""
local batch = ARGV[4]
local waiting, queued = 0, 0
local candidates = redis.call('ZRANGE', P .. 'p:' .. batch, 0, -1)
for _, id in ipairs(redis.call('SMEMBERS', P .. 'a:' .. batch)) do
  candidates[#candidates + 1] = id
end
for _, id in ipairs(candidates) do
  local k = jkey(id)
  local st, kind = str(k, 'status'), str(k, 'kind')
  if (kind == 'job' or kind == 'batch') and (st == 'pending' or st == 'queued') then
    if st == 'pending' then waiting = waiting + 1 else queued = queued + 1 end
    redis.call('HSET', k, 'finished_at', NOW)
    set_status(id, 'cancelled')
  end
end
if waiting + queued > 0 then
  local bk = bkey(batch)
  redis.call('HINCRBY', bk, 'cancelled_jobs', waiting + queued)
  redis.call('HINCRBY', bk, 'waiting_jobs', 0 - waiting)
  touch(batch)
end
return waiting + queued
"""

#: Add to the counters: ARGV[4] = batch, ARGV[5..8] = completed, failed, cancelled, waiting,
#: ARGV[9] = "1" when ARGV[10] is the context JSON to store.
COUNT = r"""
local batch = ARGV[4]
local bk = bkey(batch)
if redis.call('EXISTS', bk) == 0 then return false end
local fields = {'completed_jobs', 'failed_jobs', 'cancelled_jobs', 'waiting_jobs'}
for i, f in ipairs(fields) do
  local n = tonumber(ARGV[4 + i])
  if n ~= 0 then redis.call('HINCRBY', bk, f, n) end
end
if ARGV[9] == '1' then redis.call('HSET', bk, 'context', ARGV[10]) end
touch(batch)
return 1
"""

#: An open batch gains members: ARGV[4] = batch, ARGV[5] = n, ARGV[6] = has compensation,
#: ARGV[7] = waiting, ARGV[8] = has children.
GROW = r"""
local batch = ARGV[4]
local bk = bkey(batch)
if not OPEN[str(bk, 'status')] then return false end
redis.call('HINCRBY', bk, 'total_jobs', tonumber(ARGV[5]))
redis.call('HINCRBY', bk, 'waiting_jobs', tonumber(ARGV[7]))
if ARGV[6] == '1' then redis.call('HSET', bk, 'has_compensation', '1') end
if ARGV[8] == '1' then redis.call('HSET', bk, 'has_children', '1') end
touch(batch)
return 1
"""

#: Batch status changes: ARGV[4] = batch, ARGV[5] = what, ARGV[6..] = its arguments.
#: ``started``, ``settle`` ("recount": from the rows if the counters are behind), ``close``
#: (status, error, acting), ``outcome_written`` (the ending's follow-ups are written: clears
#: ``acting``), ``reopen_child``, ``reopen_for_retry``, ``finalize`` (TTL seconds),
#: ``compensation`` (status, then "any", or "only" and the current statuses it may replace,
#: "" for none).
BATCH = r"""
local batch, what = ARGV[4], ARGV[5]
local bk = bkey(batch)
if redis.call('EXISTS', bk) == 0 then return false end
local st = str(bk, 'status')
local function is_root() return str(bk, 'parent_id') == '' end
if what == 'started' then
  if st ~= 'pending' then return false end
  redis.call('HSET', bk, 'status', 'running', 'started_at', NOW)
elseif what == 'settle' then
  if not OPEN[st] then return false end
  if num(bk, 'total_jobs') > done(bk) then
    if ARGV[6] ~= 'recount' then return false end
    -- Reconcile's nudge, holding the tree's lock: the counters may disagree with the rows (a
    -- count lost with a killed worker, or an add_jobs killed after growing the batch and
    -- before storing its rows). If every member's row has finished, the rows are the truth.
    local n = {completed = 0, failed = 0, cancelled = 0}
    local members = redis.call('ZRANGE', P .. 'm:' .. batch, 0, -1)
    for _, id in ipairs(members) do
      local s = str(jkey(id), 'status')
      if n[s] == nil then return false end  -- still pending, queued or running
      n[s] = n[s] + 1
    end
    redis.call('HSET', bk, 'total_jobs', #members, 'completed_jobs', n.completed,
      'failed_jobs', n.failed, 'cancelled_jobs', n.cancelled, 'waiting_jobs', 0)
  end
  -- a strict batch with a failed member fails instead (settling.fail), never completes
  if str(bk, 'allow_failures') ~= '1' and num(bk, 'failed_jobs') > 0 then return false end
  redis.call('HSET', bk, 'status', 'completed', 'finished_at', NOW, 'acting', 'completed')
  redis.call('SREM', P .. 'open', batch)
elseif what == 'close' then
  if not OPEN[st] then return false end
  redis.call('HSET', bk, 'status', ARGV[6], 'error', ARGV[7], 'finished_at', NOW,
    'acting', ARGV[8])
  redis.call('SREM', P .. 'open', batch)
elseif what == 'outcome_written' then
  redis.call('HDEL', bk, 'acting')
elseif what == 'reopen_child' or what == 'reopen_for_retry' then
  if str(bk, 'compensation_status') ~= '' then return false end
  if what == 'reopen_child' then
    if st ~= 'failed' and st ~= 'cancelled' then return false end
    redis.call('HSET', bk, 'status', 'pending', 'error', '')
  else
    local tolerant = st == 'completed' and str(bk, 'allow_failures') == '1'
      and num(bk, 'failed_jobs') > 0
    if st ~= 'failed' and not tolerant then return false end
    redis.call('HSET', bk, 'status', 'running', 'error', '')
  end
  redis.call('HDEL', bk, 'finished_at', 'finalized_at', 'acting')
  redis.call('SADD', P .. 'open', batch)
  local root = str(bk, 'root_id')
  for _, k in ipairs(tree_keys(root ~= '' and root or batch)) do redis.call('PERSIST', k) end
elseif what == 'finalize' then
  if not FINISHED[st] or str(bk, 'finalized_at') ~= '' then return false end
  redis.call('HSET', bk, 'finalized_at', NOW)
  local ttl = tonumber(ARGV[6])
  if is_root() and ttl and ttl > 0 then
    for _, k in ipairs(tree_keys(batch)) do redis.call('EXPIRE', k, ttl) end
    for _, b in ipairs(redis.call('SMEMBERS', P .. 'tree:' .. batch)) do
      redis.call('ZADD', P .. 'expiring', NOWS + ttl, b)  -- nested ones too, for forget_expired
    end
  end
elseif what == 'compensation' then
  if ARGV[7] == 'only' then
    local current, allowed = str(bk, 'compensation_status'), false
    for i = 8, #ARGV do if ARGV[i] == current then allowed = true end end
    if not allowed then return false end
  end
  redis.call('HSET', bk, 'compensation_status', ARGV[6])
end
touch(batch)
return 1
"""

#: Failed and cancelled members back to pending, uncounted: ARGV[4] = batch. Returns their
#: ids in position order.
RESET_FOR_RETRY = r"""
local batch = ARGV[4]
local bk = bkey(batch)
if redis.call('EXISTS', bk) == 0 then return {} end
local out = {}
local failed, cancelled = 0, 0
for _, id in ipairs(redis.call('ZRANGE', P .. 'm:' .. batch, 0, -1)) do
  local k = jkey(id)
  local st = str(k, 'status')
  if st == 'failed' or st == 'cancelled' then
    if st == 'failed' then failed = failed + 1 else cancelled = cancelled + 1 end
    redis.call('HSET', k, 'attempts', 0, 'error', '', 'traceback', '', 'rq_job_id', '')
    redis.call('HDEL', k, 'result', 'started_at', 'finished_at')
    set_status(id, 'pending')
    out[#out + 1] = id
  end
end
redis.call('HINCRBY', bk, 'failed_jobs', 0 - failed)
redis.call('HINCRBY', bk, 'cancelled_jobs', 0 - cancelled)
redis.call('HINCRBY', bk, 'waiting_jobs', #out)
touch(batch)
return out
"""

#: Delete batches with all their rows: ARGV[4..] = batch ids. Returns {batches, rows}.
DELETE = r"""
local batches, rows = 0, 0
for i = 4, #ARGV do
  local batch = ARGV[i]
  local bk = bkey(batch)
  if redis.call('EXISTS', bk) == 1 then
    batches = batches + 1
    local root = str(bk, 'root_id')
    local parent = str(bk, 'parent_id')
    local ids = redis.call('ZRANGE', P .. 'm:' .. batch, 0, -1)
    for _, id in ipairs(redis.call('SMEMBERS', P .. 'r:' .. batch)) do ids[#ids + 1] = id end
    for _, id in ipairs(ids) do
      redis.call('ZREM', P .. 'queued', id)
      redis.call('ZREM', P .. 'running', id)
      rows = rows + redis.call('DEL', jkey(id))
    end
    for _, k in ipairs({'b:', 'm:', 'r:', 'p:', 'a:', 'ch:'}) do
      redis.call('DEL', P .. k .. batch)
    end
    for _, k in ipairs({'batches', 'touched', 'expiring'}) do redis.call('ZREM', P .. k, batch) end
    redis.call('SREM', P .. 'open', batch)
    if parent ~= '' then redis.call('ZREM', P .. 'ch:' .. parent, batch) end
    local tree = P .. 'tree:' .. (root ~= '' and root or batch)
    redis.call('SREM', tree, batch)
  end
end
return {batches, rows}
"""

#: Give a tree's lock back if this holder (ARGV[1], its token) still has it. (No header: the
#: lock is not a transition.)
RELEASE_LOCK = r"""
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

TRANSITIONS = {
    "put_rows": PUT_ROWS,
    "put_batch": PUT_BATCH,
    "claim": CLAIM,
    "finish": FINISH,
    "requeue": REQUEUE,
    "queue_pending": QUEUE_PENDING,
    "start_virtual": START_VIRTUAL,
    "release": RELEASE,
    "reassign": REASSIGN,
    "cancel_unstarted": CANCEL_UNSTARTED,
    "count": COUNT,
    "grow": GROW,
    "batch": BATCH,
    "reset_for_retry": RESET_FOR_RETRY,
    "delete": DELETE,
}
