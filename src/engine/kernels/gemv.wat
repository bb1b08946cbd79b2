;; Matrix-vector products for one decode step's attention, in wasm SIMD, run on the wasm
;; backend's own memory (imported), so the KV cache is read where it lies.
;;
;; Why: XNNPACK's matMul is a GEMM. Given a vector it computes a whole tile of 8 or 16
;; columns and keeps one: a head's scores, (S, 64) @ (64, 1), ran at about 1 GFLOP/s, and the
;; attention of a step at context 512 took 1.0 of its 1.8 ms. This does the same products
;; 4 rows at a time with 4-wide lanes.
;;
;; gemv(mat, stride, rows, len, vec, out, add): out[r] = sum_i mat[r * stride + i] * vec[i],
;; r < rows, i < len, or out[r] += that sum when add is 1. Pointers are byte offsets of
;; float32 arrays; stride is in floats.
;;
;; softmaxNum(row, bias, n): row[i] = exp(row[i] + bias[i] - max) for i < n, where max is the
;; largest row[i] + bias[i]; returns the sum of the new row (the softmax's denominator). In JS
;; (Math.exp per score) this was 0.14 of a 0.96 ms step at context 512.
;;
;; colSum(mat, rows, cols, out): out[c] = sum_r mat[r * cols + c], c < cols, r < rows (at least
;; one row). The trainer's bias gradients: (512, 1024) took 1.3 ms in a JS loop, and XNNPACK
;; with a ones vector packed the whole matrix first.
;; Build: npm run build:kernels (wabt), which writes gemv-wasm.ts.
(module
  (import "env" "memory" (memory 1))

  ;; Sum of a vector's four lanes.
  (func $hsum (param $v v128) (result f32)
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $v)) (f32x4.extract_lane 1 (local.get $v)))
      (f32.add (f32x4.extract_lane 2 (local.get $v)) (f32x4.extract_lane 3 (local.get $v)))))

  ;; One row: the dot product of len floats at $m and $x.
  (func $dot (param $m i32) (param $x i32) (param $len i32) (result f32)
    (local $acc v128) (local $i i32) (local $n4 i32) (local $s f32)
    (local.set $n4 (i32.and (local.get $len) (i32.const -4)))
    (block $done
      (loop $quad
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $acc
          (f32x4.add (local.get $acc)
            (f32x4.mul
              (v128.load (i32.add (local.get $m) (i32.shl (local.get $i) (i32.const 2))))
              (v128.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quad)))
    (local.set $s (call $hsum (local.get $acc)))
    (block $end
      (loop $tail
        (br_if $end (i32.ge_u (local.get $i) (local.get $len)))
        (local.set $s
          (f32.add (local.get $s)
            (f32.mul
              (f32.load (i32.add (local.get $m) (i32.shl (local.get $i) (i32.const 2))))
              (f32.load (i32.add (local.get $x) (i32.shl (local.get $i) (i32.const 2)))))))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    (local.get $s))

  ;; Stores s at $p, or adds it to what is there.
  (func $put (param $p i32) (param $s f32) (param $add i32)
    (if (local.get $add)
      (then (f32.store (local.get $p) (f32.add (f32.load (local.get $p)) (local.get $s))))
      (else (f32.store (local.get $p) (local.get $s)))))

;; The four lane sums of a, b, c, d as one vector: a 4x4 transpose by shuffles, then adds.
  (func $sum4 (param $a v128) (param $b v128) (param $c v128) (param $d v128) (result v128)
    (local $u v128) (local $w v128)
    (local.set $u
      (f32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $a) (local.get $b))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $a) (local.get $b))))
    (local.set $w
      (f32x4.add
        (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $c) (local.get $d))
        (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $c) (local.get $d))))
    (f32x4.add
      (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $u) (local.get $w))
      (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $u) (local.get $w))))

  ;; exp(x) of four lanes, for x <= 0: 2^k e^r with k = nearest(x / ln 2) and |r| <= ln(2)/2,
  ;; where r's series to r^6 is within 2e-7 of e^r (relative). ln 2 is split in two (Cephes)
  ;; so that r keeps its low bits. Lanes below -87 (e^-87 ~ 1.6e-38) are clamped there.
  (func $exp4 (param $x v128) (result v128)
    (local $k v128) (local $r v128) (local $p v128)
    (local.set $x (f32x4.max (local.get $x) (v128.const f32x4 -87 -87 -87 -87)))
    (local.set $k (f32x4.nearest (f32x4.mul (local.get $x) (v128.const f32x4 1.44269504089 1.44269504089 1.44269504089 1.44269504089))))
    (local.set $r
      (f32x4.sub
        (f32x4.sub (local.get $x) (f32x4.mul (local.get $k) (v128.const f32x4 0.693359375 0.693359375 0.693359375 0.693359375)))
        (f32x4.mul (local.get $k) (v128.const f32x4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4 -2.12194440e-4))))
    (local.set $p (v128.const f32x4 1.38888889e-3 1.38888889e-3 1.38888889e-3 1.38888889e-3))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 8.33333333e-3 8.33333333e-3 8.33333333e-3 8.33333333e-3)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 4.16666667e-2 4.16666667e-2 4.16666667e-2 4.16666667e-2)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1.66666667e-1 1.66666667e-1 1.66666667e-1 1.66666667e-1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 0.5 0.5 0.5 0.5)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    (local.set $p (f32x4.add (f32x4.mul (local.get $p) (local.get $r)) (v128.const f32x4 1 1 1 1)))
    ;; 2^k as float bits: (k + 127) << 23.
    (f32x4.mul (local.get $p)
      (i32x4.shl (i32x4.add (i32x4.trunc_sat_f32x4_s (local.get $k)) (v128.const i32x4 127 127 127 127)) (i32.const 23))))

  (func (export "softmaxNum") (param $row i32) (param $bias i32) (param $n i32) (result f32)
    (local $i i32) (local $n4 i32) (local $off i32) (local $v v128) (local $m v128) (local $mx f32)
    (local $x f32) (local $acc v128) (local $e v128) (local $sum f32)
    (local.set $n4 (i32.and (local.get $n) (i32.const -4)))
    ;; Scores plus bias, in place, and their largest.
    (local.set $m (v128.const f32x4 -inf -inf -inf -inf))
    (block $done
      (loop $quad
        (br_if $done (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $v (f32x4.add (v128.load (i32.add (local.get $row) (local.get $off))) (v128.load (i32.add (local.get $bias) (local.get $off)))))
        (v128.store (i32.add (local.get $row) (local.get $off)) (local.get $v))
        (local.set $m (f32x4.max (local.get $m) (local.get $v)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quad)))
    (local.set $mx
      (f32.max
        (f32.max (f32x4.extract_lane 0 (local.get $m)) (f32x4.extract_lane 1 (local.get $m)))
        (f32.max (f32x4.extract_lane 2 (local.get $m)) (f32x4.extract_lane 3 (local.get $m)))))
    (block $end
      (loop $tail
        (br_if $end (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.shl (local.get $i) (i32.const 2)))
        (local.set $x (f32.add (f32.load (i32.add (local.get $row) (local.get $off))) (f32.load (i32.add (local.get $bias) (local.get $off)))))
        (f32.store (i32.add (local.get $row) (local.get $off)) (local.get $x))
        (local.set $mx (f32.max (local.get $mx) (local.get $x)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail)))
    ;; The numerators, in place, and their sum.
    (local.set $m (f32x4.splat (local.get $mx)))
    (local.set $i (i32.const 0))
    (block $done2
      (loop $quad2
        (br_if $done2 (i32.ge_u (local.get $i) (local.get $n4)))
        (local.set $off (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $e (call $exp4 (f32x4.sub (v128.load (local.get $off)) (local.get $m))))
        (v128.store (local.get $off) (local.get $e))
        (local.set $acc (f32x4.add (local.get $acc) (local.get $e)))
        (local.set $i (i32.add (local.get $i) (i32.const 4)))
        (br $quad2)))
    (local.set $sum (call $hsum (local.get $acc)))
    (block $end2
      (loop $tail2
        (br_if $end2 (i32.ge_u (local.get $i) (local.get $n)))
        (local.set $off (i32.add (local.get $row) (i32.shl (local.get $i) (i32.const 2))))
        (local.set $x (f32x4.extract_lane 0 (call $exp4 (f32x4.splat (f32.sub (f32.load (local.get $off)) (local.get $mx))))))
        (f32.store (local.get $off) (local.get $x))
        (local.set $sum (f32.add (local.get $sum) (local.get $x)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $tail2)))
    (local.get $sum))

  (func (export "gemv") (param $mat i32) (param $stride i32) (param $rows i32) (param $len i32) (param $vec i32) (param $out i32) (param $add i32)
    (local $r i32) (local $r4 i32) (local $i i32) (local $n4 i32) (local $rowBytes i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $x v128) (local $off i32) (local $o i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $t v128) (local $xs f32)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $n4 (i32.and (local.get $len) (i32.const -4)))
    ;; Four rows at a time: each vector load is shared by four independent sums, and the four
    ;; results leave as one vector.
    (block $rowsDone
      (loop $rowQuad
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $r4)))
        (local.set $p0 (i32.add (local.get $mat) (i32.mul (local.get $r) (local.get $rowBytes))))
        (local.set $p1 (i32.add (local.get $p0) (local.get $rowBytes)))
        (local.set $p2 (i32.add (local.get $p1) (local.get $rowBytes)))
        (local.set $p3 (i32.add (local.get $p2) (local.get $rowBytes)))
        (local.set $a0 (v128.const i32x4 0 0 0 0))
        (local.set $a1 (v128.const i32x4 0 0 0 0))
        (local.set $a2 (v128.const i32x4 0 0 0 0))
        (local.set $a3 (v128.const i32x4 0 0 0 0))
        (local.set $i (i32.const 0))
        (block $colsDone
          (loop $col
            (br_if $colsDone (i32.ge_u (local.get $i) (local.get $n4)))
            (local.set $off (i32.shl (local.get $i) (i32.const 2)))
            (local.set $x (v128.load (i32.add (local.get $vec) (local.get $off))))
            (local.set $a0 (f32x4.add (local.get $a0) (f32x4.mul (v128.load (i32.add (local.get $p0) (local.get $off))) (local.get $x))))
            (local.set $a1 (f32x4.add (local.get $a1) (f32x4.mul (v128.load (i32.add (local.get $p1) (local.get $off))) (local.get $x))))
            (local.set $a2 (f32x4.add (local.get $a2) (f32x4.mul (v128.load (i32.add (local.get $p2) (local.get $off))) (local.get $x))))
            (local.set $a3 (f32x4.add (local.get $a3) (f32x4.mul (v128.load (i32.add (local.get $p3) (local.get $off))) (local.get $x))))
            (local.set $i (i32.add (local.get $i) (i32.const 4)))
            (br $col)))
        (local.set $t (call $sum4 (local.get $a0) (local.get $a1) (local.get $a2) (local.get $a3)))
        ;; The last len % 4 columns, one lane per row.
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $off (i32.shl (local.get $i) (i32.const 2)))
            (local.set $xs (f32.load (i32.add (local.get $vec) (local.get $off))))
            (local.set $t (f32x4.add (local.get $t)
              (f32x4.mul (f32x4.splat (local.get $xs))
                (f32x4.replace_lane 3
                  (f32x4.replace_lane 2
                    (f32x4.replace_lane 1
                      (f32x4.splat (f32.load (i32.add (local.get $p0) (local.get $off))))
                      (f32.load (i32.add (local.get $p1) (local.get $off))))
                    (f32.load (i32.add (local.get $p2) (local.get $off))))
                  (f32.load (i32.add (local.get $p3) (local.get $off)))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tail)))
        (local.set $o (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))))
        (if (local.get $add)
          (then (v128.store (local.get $o) (f32x4.add (v128.load (local.get $o)) (local.get $t))))
          (else (v128.store (local.get $o) (local.get $t))))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rowQuad)))
    ;; The last rows % 4 rows, one at a time.
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.ge_u (local.get $r) (local.get $rows)))
        (call $put
          (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
          (call $dot (i32.add (local.get $mat) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $vec) (local.get $len))
          (local.get $add))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rest))))

  ;; out = the first row, then each further row added, four columns per vector.
  (func (export "colSum") (param $mat i32) (param $rows i32) (param $cols i32) (param $out i32)
    (local $r i32) (local $c i32) (local $n4 i32) (local $row i32) (local $off i32)
    (local.set $n4 (i32.and (local.get $cols) (i32.const -4)))
    (memory.copy (local.get $out) (local.get $mat) (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $r (i32.const 1))
    (block $rowsDone
      (loop $rowLoop
        (br_if $rowsDone (i32.ge_u (local.get $r) (local.get $rows)))
        (local.set $row (i32.add (local.get $mat) (i32.shl (i32.mul (local.get $r) (local.get $cols)) (i32.const 2))))
        (local.set $c (i32.const 0))
        (block $quadsDone
          (loop $quad
            (br_if $quadsDone (i32.ge_u (local.get $c) (local.get $n4)))
            (local.set $off (i32.shl (local.get $c) (i32.const 2)))
            (v128.store (i32.add (local.get $out) (local.get $off))
              (f32x4.add (v128.load (i32.add (local.get $out) (local.get $off))) (v128.load (i32.add (local.get $row) (local.get $off)))))
            (local.set $c (i32.add (local.get $c) (i32.const 4)))
            (br $quad)))
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $c) (local.get $cols)))
            (local.set $off (i32.shl (local.get $c) (i32.const 2)))
            (f32.store (i32.add (local.get $out) (local.get $off))
              (f32.add (f32.load (i32.add (local.get $out) (local.get $off))) (f32.load (i32.add (local.get $row) (local.get $off)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $tail)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rowLoop))))
)
