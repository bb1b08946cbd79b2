;; Matrix-vector products for one decode step's attention, in wasm SIMD, run on the wasm
;; backend's own memory (imported), so the KV cache is read where it lies.
;;
;; Why: XNNPACK's matMul is a GEMM. Given a vector it computes a whole tile of 8 or 16
;; columns and keeps one: a head's scores, (S, 64) @ (64, 1), ran at about 1 GFLOP/s, and the
;; attention of a step at context 512 took 1.0 of its 1.8 ms. This does the same products
;; 4 rows at a time with 4-wide lanes.
;;
;; gemv(mat, stride, rows, len, vec, out): out[r] = sum_i mat[r * stride + i] * vec[i],
;; r < rows, i < len. Pointers are byte offsets of float32 arrays; stride is in floats.
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

  (func (export "gemv") (param $mat i32) (param $stride i32) (param $rows i32) (param $len i32) (param $vec i32) (param $out i32)
    (local $r i32) (local $r4 i32) (local $i i32) (local $n4 i32) (local $rowBytes i32)
    (local $p0 i32) (local $p1 i32) (local $p2 i32) (local $p3 i32) (local $x v128) (local $off i32)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128) (local $s0 f32) (local $s1 f32) (local $s2 f32) (local $s3 f32)
    (local.set $rowBytes (i32.shl (local.get $stride) (i32.const 2)))
    (local.set $r4 (i32.and (local.get $rows) (i32.const -4)))
    (local.set $n4 (i32.and (local.get $len) (i32.const -4)))
    ;; Four rows at a time: each vector load is shared by four independent sums.
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
        (local.set $s0 (call $hsum (local.get $a0)))
        (local.set $s1 (call $hsum (local.get $a1)))
        (local.set $s2 (call $hsum (local.get $a2)))
        (local.set $s3 (call $hsum (local.get $a3)))
        ;; The last len % 4 columns.
        (block $tailDone
          (loop $tail
            (br_if $tailDone (i32.ge_u (local.get $i) (local.get $len)))
            (local.set $off (i32.shl (local.get $i) (i32.const 2)))
            (local.set $s0 (f32.add (local.get $s0) (f32.mul (f32.load (i32.add (local.get $p0) (local.get $off))) (f32.load (i32.add (local.get $vec) (local.get $off))))))
            (local.set $s1 (f32.add (local.get $s1) (f32.mul (f32.load (i32.add (local.get $p1) (local.get $off))) (f32.load (i32.add (local.get $vec) (local.get $off))))))
            (local.set $s2 (f32.add (local.get $s2) (f32.mul (f32.load (i32.add (local.get $p2) (local.get $off))) (f32.load (i32.add (local.get $vec) (local.get $off))))))
            (local.set $s3 (f32.add (local.get $s3) (f32.mul (f32.load (i32.add (local.get $p3) (local.get $off))) (f32.load (i32.add (local.get $vec) (local.get $off))))))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $tail)))
        (f32.store (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2))) (local.get $s0))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $r) (i32.const 1)) (i32.const 2))) (local.get $s1))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $r) (i32.const 2)) (i32.const 2))) (local.get $s2))
        (f32.store (i32.add (local.get $out) (i32.shl (i32.add (local.get $r) (i32.const 3)) (i32.const 2))) (local.get $s3))
        (local.set $r (i32.add (local.get $r) (i32.const 4)))
        (br $rowQuad)))
    ;; The last rows % 4 rows, one at a time.
    (block $restDone
      (loop $rest
        (br_if $restDone (i32.ge_u (local.get $r) (local.get $rows)))
        (f32.store
          (i32.add (local.get $out) (i32.shl (local.get $r) (i32.const 2)))
          (call $dot (i32.add (local.get $mat) (i32.mul (local.get $r) (local.get $rowBytes))) (local.get $vec) (local.get $len)))
        (local.set $r (i32.add (local.get $r) (i32.const 1)))
        (br $rest))))
)
